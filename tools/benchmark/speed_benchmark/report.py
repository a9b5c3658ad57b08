"""The results as markdown tables."""
from __future__ import annotations

import math
from typing import Any, Dict

from .timing import summarize

__all__ = ['format_tables']

MIB = 2.0**20


def _fmt_stats(stats: Dict[str, Any], scale: float = 1.0,
               digits: int = 3) -> str:
    return ' / '.join(f'{stats[k] * scale:.{digits}g}'
                      for k in ('min', 'median', 'max'))


def format_tables(results: Dict[str, Any]) -> str:
    """The results of :func:`run_benchmark` as markdown tables."""
    s = results['settings']
    lines = [
        f"TSAL vs plain mmpose top-down on {s['device']} "
        f"({s['device_name']}, {s['threads']} threads), input "
        f"{s['input_size'][0]}x{s['input_size'][1]}, K={s['clip_len']}, "
        f"amp={s['amp']}, channels_last={s['channels_last']}, "
        f"compile={s['compile']}, retain_freed_memory="
        f"{s.get('retain_freed_memory', False)}; warmup {s['warmup']}, "
        f"repeats {s['repeats']} (min / median / max)", '',
        '| B (clips) | frames | quantity | TSAL | plain | ratio |',
        '|---|---|---|---|---|---|'
    ]
    for b, entry in results['per_batch_size'].items():
        frames = int(b) * s['clip_len']
        if 'train' in entry:
            t = entry['train']
            lines.append(
                f"| {b} | {frames} | train step (ms) | "
                f"{_fmt_stats(t['tsal_s'], 1e3)} | "
                f"{_fmt_stats(t['plain_s'], 1e3)} | "
                f"{_fmt_stats(t['ratio'])} |")
            lines.append(
                f"| {b} | {frames} | train step CPU time (ms) | "
                f"{_fmt_stats(t['tsal_cpu_s'], 1e3)} | "
                f"{_fmt_stats(t['plain_cpu_s'], 1e3)} | "
                f"{_fmt_stats(t['cpu_ratio'])} |")
            lines.append(
                f"| {b} | {frames} | train step system CPU time (ms) | "
                f"{_fmt_stats(t['tsal_sys_s'], 1e3)} | "
                f"{_fmt_stats(t['plain_sys_s'], 1e3)} | |")
            lines.append(
                f"| {b} | {frames} | training clips/s | "
                f"{_fmt_stats(t['tsal_clips_per_s'])} | "
                f"{_fmt_stats(t['plain_clips_per_s'])} | |")
        if 'inference' in entry:
            i = entry['inference']
            lines.append(
                f"| {b} | {frames} | inference latency (ms) | "
                f"{_fmt_stats(i['tsal_s'], 1e3)} | "
                f"{_fmt_stats(i['plain_s'], 1e3)} | "
                f"{_fmt_stats(i['ratio'])} |")
        if 'loader' in entry:
            d = entry['loader']
            cons = entry.get('train', {}).get(
                'tsal_consumption_frames_per_s')
            lines.append(
                f"| {b} | {frames} | data pipeline frames/s "
                f"({d['num_workers']} workers) vs TSAL consumption | "
                f"{_fmt_stats(d['frames_per_s'])} | "
                f"{_fmt_stats(cons) if cons else ''} | "
                f"{_fmt_stats(d['ratio']) if 'ratio' in d else ''} |")
        if 'memory' in entry:
            m = entry['memory']
            for phase in ('train', 'infer'):
                lines.append(
                    f"| {b} | {frames} | peak memory {phase} (MiB) | "
                    f"{m[f'tsal_{phase}']['peak_bytes'] / MIB:.1f} | "
                    f"{m[f'plain_{phase}']['peak_bytes'] / MIB:.1f} | "
                    f"{m[f'ratio_{phase}']:.3g} |")
    fast_rows = []
    for b, entry in results['per_batch_size'].items():
        i = entry.get('inference', {})
        if 'fast_max_abs_diff_px' not in i:
            continue
        for k, name in (('plain', 'stock mmpose'), ('tsal', 'TSAL teacher')):
            for path in ('', '_fast'):
                diff = (f"{i['fast_max_abs_diff_px'][k]:.3g} / "
                        f"{i['fast_median_abs_diff_px'][k]:.3g} / "
                        f"{100 * i['fast_within_0.1px'][k]:.1f}%"
                        if path else '0')
                fitted = i.get('fast_fitted', {}).get(k)
                fitted = (f"{fitted['frames']} frames: "
                          f"{fitted['max_abs_diff_px']:.3g} / "
                          f"{fitted['median_abs_diff_px']:.3g} / "
                          f"{100 * fitted['within_0_1px']:.1f}%"
                          if fitted and path else '')
                fast_rows.append(
                    f"| {b} | {i['frames']} | {name} | "
                    f"{'fast' if path else 'eager fp32'} | "
                    f"{_fmt_stats(i['faces_per_s'][k + path])} | "
                    f"{diff} | {fitted} |")
        # speed-up = time of stock eager / time of the TSAL fast path
        speedup = summarize(
            [1.0 / r for r in i['tsal_fast_over_plain_eager']['values']])
        fast_rows.append(
            f"| {b} | {i['frames']} | TSAL teacher fast over stock mmpose "
            f"eager fp32 | speed-up | {_fmt_stats(speedup)} | | |")
    if fast_rows:
        lines += [
            '', f"Inference paths ({s['weights']}; with random weights the "
            'heatmaps are nearly flat and the differences are not '
            'meaningful)', '',
            '| B (clips) | faces | model | path | faces/s | '
            'abs diff vs eager fp32: max / median (px) / landmarks '
            'within 0.1 px | the same on the fitted frames |',
            '|---|---|---|---|---|---|---|'
        ] + fast_rows
    lines += [
        '', '| headline ratio | min | median | max |', '|---|---|---|---|'
    ]
    for key, stats in results['ratios'].items():
        lines.append(f"| {key} | {stats['min']:.3g} | {stats['median']:.3g}"
                     f" | {stats['max']:.3g} |")
    flops = results.get('flops')
    if flops:
        lines += [
            '', '| GFLOPs (conv + matmul) | TSAL | plain | ratio |',
            '|---|---|---|---|'
        ]
        for key, label in (('train_step_gflops', 'training step (fwd+bwd)'),
                           ('loss_forward_gflops', 'loss forward'),
                           ('inference_gflops', 'inference')):
            lines.append(f"| {label} | {flops['tsal'][key]:.3f} | "
                         f"{flops['plain'][key]:.3f} | "
                         f"{flops['ratios'].get(key, math.nan):.3g} |")
        lines += ['', '| loss-forward GFLOPs by module | model | GFLOPs |',
                  '|---|---|---|']
        for kind in ('tsal', 'plain'):
            for name, value in flops[kind][
                    'loss_forward_by_module_gflops'].items():
                lines.append(f'| {name} | {kind} | {value:.3f} |')
    for name, prof in results.get('profile', {}).items():
        lines += [
            '', f"Profile {name}: {prof['ms_per_call']:.1f} ms per call "
            f"(mean of {prof['calls']}, profiler on)", '',
            '| label | host ms per call (inclusive) | GPU ms per call '
            '(span of its kernels) | calls per call |', '|---|---|---|---|'
        ]
        for label, v in sorted(
                prof['labels'].items(),
                key=lambda kv: -kv[1].get('gpu_ms', kv[1]['ms'])):
            gpu = f"{v['gpu_ms']:.1f}" if 'gpu_ms' in v else ''
            lines.append(
                f"| {label} | {v['ms']:.1f} | {gpu} | {v['calls']:g} |")
        lines += ['', '```', prof['table'], '```']
    return '\n'.join(lines)


