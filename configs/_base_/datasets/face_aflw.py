# AFLW (19 points) through mmpose's AFLWDataset; loaders and pipelines as
# face_300w.py. The model's number of landmarks is the config's to set.
# Expected layout (mmpose's): data/aflw/images/... and
# data/aflw/annotations/face_landmarks_aflw_{train,test,test_frontal}.json
# (test annotations need `box_size`, which AFLWDataset requires in test mode).
_base_ = ['./face_300w.py']

dataset_type = 'AFLWDataset'
data_root = 'data/aflw/'

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/face_landmarks_aflw_train.json'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/face_landmarks_aflw_test.json'))
test_dataloader = val_dataloader

# AFLW protocol: NME by the face size.
val_evaluator = dict(
    _delete_=True, type='FaceLandmarkMetric', norm_mode='face_size')
test_evaluator = val_evaluator
