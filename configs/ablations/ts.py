# Table 3, teacher-student asynchronous learning without SIC and MFDS.
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(sic_loss=None, mfds_loss=None)
