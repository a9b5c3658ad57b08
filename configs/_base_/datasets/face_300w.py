# 300W (68 iBUG points), read by mmpose's own Face300WDataset.
# Compose with `_base_ = ['../_base_/datasets/face_300w.py']`; pipelines and
# loaders come from face_image.py (see there before changing `codec`).
# Expected layout (mmpose's): data/300w/images/... and
# data/300w/annotations/face_landmarks_300w_{train,valid,test}.json
_base_ = ['./face_image.py']

dataset_type = 'Face300WDataset'
data_root = 'data/300w/'

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/face_landmarks_300w_train.json'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/face_landmarks_300w_valid.json'))
test_dataloader = val_dataloader

# Paper Table 1: NME by the inter-pupil distance; inter-ocular also given.
val_evaluator = dict(
    type='FaceLandmarkMetric', norm_modes=['inter_pupil', 'inter_ocular'])
test_evaluator = val_evaluator
