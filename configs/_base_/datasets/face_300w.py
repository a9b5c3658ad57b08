# 300W (68 iBUG points) through mmpose's Face300WDataset, loaders and
# pipelines, inherited from mmpose's 300W config, at a batch of 8.
# Expected layout (mmpose's): data/300w/images/... and
# data/300w/annotations/face_landmarks_300w_{train,valid,test}.json
_base_ = ['../schedules/tsal_adam_140e.py']

train_dataloader = dict(batch_size=8)

# Paper Table 1: NME by the inter-pupil distance; inter-ocular also given.
val_evaluator = dict(
    _delete_=True,
    type='FaceLandmarkMetric',
    norm_modes=['inter_pupil', 'inter_ocular'])
test_evaluator = val_evaluator
