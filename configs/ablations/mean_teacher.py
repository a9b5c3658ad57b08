# Mean Teacher as the special case of Eq. 8 with a queue of one student
# snapshot and lambda = 0.999 (Sec. 3.4), all other terms as full TSAL.
_base_ = ['../tsal_hrnet_300vw.py']
custom_hooks = [dict(type='QueueTeacherHook', queue_size=1, smoothing=0.999)]
