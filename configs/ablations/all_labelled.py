# Reference row beside Table 3: the supervised-only baseline with EVERY
# training frame labelled (a training clip starts at every frame) and the
# same iteration budget. What it gains over the 1-in-10 baseline is what
# true labels on the unlabelled frames give: the room for pseudo-labels
# (docs/benchmarks/accuracy.md).
_base_ = ['./baseline.py']
train_dataloader = dict(dataset=dict(label_stride=1))
