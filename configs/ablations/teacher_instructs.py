# Full TSAL, but the student's Eq. 5 targets are built from the teacher's
# tracks phi(V^R, p_l) and p_C^R (detached) instead of its own: a teacher
# that instructs its student (docs/design/estimator.md). Not the default.
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(student_targets_from='teacher')
