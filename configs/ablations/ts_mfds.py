# Table 3, teacher-student + MFDS.
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(sic_loss=None)
