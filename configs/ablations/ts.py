# Table 3, teacher-student asynchronous learning without SIC and MFDS.
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(use_sic=False, use_mfds=False)
