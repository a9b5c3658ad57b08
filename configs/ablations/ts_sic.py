# Table 3, teacher-student + SIC.
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(mfds_loss=None)
