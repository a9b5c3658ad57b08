"""CombinedClipDataset: 300W images and 300VW clips in one dataset."""
import copy
import json

import numpy as np
import pytest
import torch
from mmpose.registry import DATASETS

from tsal_mmpose.datasets import CombinedClipDataset, clip_collate
from tsal_mmpose.datasets.combined_clip_dataset import iter_transforms
from tsal_mmpose.models.data_preprocessors import ClipDataPreprocessor

METAINFO = dict(from_file='configs/_base_/datasets/300w.py')
SIZE = 64
CODEC = dict(type='TSALLabel', input_size=(SIZE, SIZE),
             heatmap_size=(16, 16), sigma=1.0)
AUG = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='TopdownAffine', input_size=(SIZE, SIZE)),
]
CLIP_PIPELINE = [
    dict(type='ClipApply', transforms=AUG),
    dict(type='ClipApply', frames='labelled',
         transforms=[dict(type='GenerateTarget', encoder=CODEC)]),
    dict(type='PackClipInputs'),
]
#: AFLW-19 -> iBUG-68 where a point is the same: brows (outer, middle,
#: inner), eye corners, nostrils and nose tip, mouth corners, chin. The eye
#: centres and the mouth centre have no iBUG point.
AFLW_TO_IBUG68 = [(0, 17), (1, 19), (2, 21), (3, 22), (4, 24), (5, 26),
                  (6, 36), (8, 39), (9, 42), (11, 45), (12, 31), (13, 30),
                  (14, 35), (15, 48), (17, 54), (18, 8)]


def w300(faces_dir, **kwargs):
    kwargs.setdefault('pipeline', [dict(type='ImageToClip')])
    return dict(type='Face300WDataset', data_root=f'{faces_dir}/300w/',
                ann_file='test_300w.json', data_mode='topdown', **kwargs)


def vw(faces_dir, **kwargs):
    # frames 6 and 9 of video 001 form the one training clip (frame 6 is
    # labelled with a stride of 5; 9 follows within a gap of 3)
    return dict(type='Face300VWClipDataset', data_root=f'{faces_dir}/300vw/',
                ann_file='anno_300vw.json', clip_len=2, label_stride=5,
                max_frame_gap=3, **kwargs)


def aflw(faces_dir, pipeline):
    return dict(type='AFLWDataset', data_root=f'{faces_dir}/aflw/',
                ann_file='test_aflw.json', data_mode='topdown',
                pipeline=pipeline)


def build(datasets, pipeline=CLIP_PIPELINE):
    return DATASETS.build(
        dict(type='CombinedClipDataset', metainfo=METAINFO,
             datasets=datasets, pipeline=pipeline))


def test_images_and_clips_share_one_clip_layout(faces_dir):
    dataset = build([w300(faces_dir), vw(faces_dir)])
    assert isinstance(dataset, CombinedClipDataset)
    assert dataset.lens == [2, 1]
    image, clip = dataset[0], dataset[2]
    assert image['inputs'].shape == (1, 3, SIZE, SIZE)
    assert clip['inputs'].shape == (2, 3, SIZE, SIZE)
    (sample, ) = image['data_samples']
    assert sample.metainfo['clip_len'] == 1
    assert sample.metainfo['labelled'] and sample.metainfo['dataset_name'] \
        == '300w'
    assert 'heatmaps' in sample.gt_fields  # targets for l_M and l_C
    first, second = clip['data_samples']
    assert [s.metainfo['clip_len'] for s in clip['data_samples']] == [2, 2]
    assert first.metainfo['labelled'] and not second.metainfo['labelled']
    assert first.metainfo['dataset_name'] == '300vw'
    # one collate and one preprocessor for both: 1 + 2 frames, clip-major
    batch = ClipDataPreprocessor()(clip_collate([image, clip]), True)
    assert batch['inputs'].shape == (3, 3, SIZE, SIZE)
    assert [s.metainfo['clip_len'] for s in batch['data_samples']] == \
        [1, 2, 2]


def test_a_different_landmark_set_names_both_datasets(faces_dir):
    with pytest.raises(ValueError) as error:
        build([aflw(faces_dir, [dict(type='ImageToClip')]), vw(faces_dir)])
    message = str(error.value)
    assert 'source 0 (AFLWDataset, ' in message and 'test_aflw.json' in \
        message and 'gives 19 landmarks' in message
    assert 'source 1 (Face300VWClipDataset, ' in message and \
        'anno_300vw.json' in message and 'gives 68' in message
    assert "KeypointConverter', num_keypoints=68" in message
    assert 'pipeline of source 0' in message


def test_a_keypoint_converter_maps_aflw_onto_the_68_points(faces_dir):
    pipeline = [
        dict(type='KeypointConverter', num_keypoints=68,
             mapping=AFLW_TO_IBUG68),
        dict(type='ImageToClip')
    ]
    dataset = build([aflw(faces_dir, pipeline), vw(faces_dir)])
    assert dataset.source_keypoints(0) == dataset.source_keypoints(1) == 68
    # the frames carry the combined flip pairs, not AFLW's 19
    info = dataset.get_data_info(0)
    frame = info['frames'][0]
    assert frame['flip_indices'] == dataset.metainfo['flip_indices']
    assert len(frame['flip_indices']) == 68
    mapped = [t for _, t in AFLW_TO_IBUG68]
    visible = frame['keypoints_visible'][0, :, 0]
    assert set(np.flatnonzero(visible)) == set(mapped)
    item = dataset[0]
    (sample, ) = item['data_samples']
    weights = sample.gt_instance_labels.offset_weights[0]
    assert set(torch.nonzero(weights).flatten().tolist()) == set(mapped)
    # a converted source's flip pairs are checked through the mapping
    flips = dataset.source_flip_indices(0)
    assert flips[17] == 26 and flips[36] == 45 and flips[8] == 8
    assert flips[0] is None  # the jaw has no AFLW point


def test_other_flip_pairs_are_refused(faces_dir):
    # landmarks 15 and 16 swapped: 0's partner (16) lands on 15
    swap = [(i, i) for i in range(68) if i not in (15, 16)] + [(15, 16),
                                                              (16, 15)]
    pipeline = [dict(type='KeypointConverter', num_keypoints=68,
                     mapping=swap), dict(type='ImageToClip')]
    with pytest.raises(ValueError, match=r'flip pairs differ: source 0 '
                       r'\(Face300WDataset, .*test_300w.json\) flips '
                       r'landmark 0 to 15, the combined metainfo \(300w\) '
                       r'to 16 \(4 landmark'):
        build([w300(faces_dir, pipeline=pipeline), vw(faces_dir)])


def test_other_input_sizes_are_refused(faces_dir):
    def own(size):
        return [
            dict(type='ClipApply', transforms=[
                dict(type='LoadImage'),
                dict(type='GetBBoxCenterScale'),
                dict(type='TopdownAffine', input_size=(size, size))
            ]),
            dict(type='PackClipInputs')
        ]

    images = w300(faces_dir)
    images['pipeline'] = images['pipeline'] + own(64)
    with pytest.raises(ValueError, match=r"pipelines use different input "
                       r"sizes: source 0 \(Face300WDataset, .*\) \(64, 64\), "
                       r"source 1 \(Face300VWClipDataset, .*\) \(96, 96\)"):
        build([images, vw(faces_dir, pipeline=own(96))], pipeline=[])
    # a source's own size against the shared pipeline's codec
    with pytest.raises(ValueError, match=r'source 0 \(Face300WDataset.*its '
                       r'own and the shared one\) use different input '
                       r'sizes: TopdownAffine \(64, 64\), TopdownAffine '
                       r'\(96, 96\)'):
        build([images, vw(faces_dir)], pipeline=own(96))


def test_iter_transforms_descends_into_clip_apply():
    dataset_pipeline = DATASETS.build(
        dict(type='Face300WDataset', ann_file='', lazy_init=True,
             data_mode='topdown', pipeline=CLIP_PIPELINE)).pipeline
    names = [type(t).__name__ for t in iter_transforms(dataset_pipeline)]
    assert names == [
        'Compose', 'ClipApply', 'Compose', 'LoadImage', 'GetBBoxCenterScale',
        'RandomFlip', 'TopdownAffine', 'ClipApply', 'Compose',
        'GenerateTarget', 'PackClipInputs'
    ]


def test_image_to_clip_marks_one_labelled_frame():
    from tsal_mmpose.datasets.transforms import ImageToClip
    info = dict(img_path='a.jpg', keypoints=np.zeros((1, 2, 2)),
                category='x', sample_idx=3)
    clip = ImageToClip()(copy.deepcopy(info))
    (frame, ) = clip['frames']
    assert clip['clip_len'] == 1 and clip['sample_idx'] == 3
    assert (frame['clip_len'], frame['frame_index'], frame['labelled'],
            frame['evaluate'], frame['gt_hidden']) == (1, 0, True, True,
                                                       False)
    assert frame['category'] == clip['category'] == 'x'
    assert ImageToClip('common')(copy.deepcopy(info))['frames'][0][
        'category'] == 'common'
    with pytest.raises(ValueError, match='got a clip'):
        ImageToClip()(clip)


def test_300w_subsets_are_evaluated_by_category(faces_dir, tmp_path):
    """The mixed config's validation set: two ImageToClip sources tagged
    with their subset; the metric reports each and their union."""
    from tsal_mmpose.evaluation.metrics import FaceLandmarkMetric
    pipeline = [
        dict(type='ClipApply', transforms=[
            dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=(SIZE, SIZE))]),
        dict(type='PackClipInputs')
    ]
    sources = [
        w300(faces_dir, test_mode=True,
             pipeline=[dict(type='ImageToClip', category=name)])
        for name in ('common', 'challenge')
    ]
    dataset = build(sources, pipeline=pipeline)
    metric = FaceLandmarkMetric(norm_modes=['inter_ocular'])
    metric.dataset_meta = dataset.metainfo
    shift = {'common': 1.0, 'challenge': 3.0}
    outputs = []
    for i in range(len(dataset)):
        (sample, ) = dataset[i]['data_samples']
        gt = sample.gt_instances.keypoints
        sample.pred_instances = copy.deepcopy(sample.gt_instances)
        sample.pred_instances.keypoints = gt + shift[sample.category]
        outputs.append(sample.to_dict())
    metric.process({}, outputs)
    results = metric.compute_metrics(metric.results)
    anns = json.loads((faces_dir / '300w' / 'test_300w.json').read_text())
    by_id = {a['image_id']: np.array(a['keypoints']).reshape(-1, 3)
             for a in anns['annotations']}
    names = {i['file_name']: i['id'] for i in anns['images']}
    expected = {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)['frames'][0]
        kpts = by_id[names[info['img_path'].split('/')[-1]]][:, :2]
        d = np.linalg.norm(kpts[36] - kpts[45])
        expected.setdefault(info['category'], []).append(
            100 * shift[info['category']] * np.sqrt(2) / d)
    for name, values in expected.items():
        assert results[f'{name}/NME_inter_ocular'] == pytest.approx(
            np.mean(values), rel=1e-6)
    assert results['NME_inter_ocular'] == pytest.approx(
        np.mean(sum(expected.values(), [])), rel=1e-6)
