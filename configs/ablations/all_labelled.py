# Reference row beside Table 3: the supervised-only baseline with EVERY
# training frame labelled (a training clip starts at every frame) and the
# same iteration budget. What it gains over the 1-in-10 baseline is the
# room that pseudo-labels of the unlabelled frames can fill at most.
_base_ = ['./baseline.py']
train_dataloader = dict(dataset=dict(label_stride=1))
