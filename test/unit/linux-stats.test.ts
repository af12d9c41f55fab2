import { describe, expect, it } from 'vitest';
import { memoryWithoutCache, parseIoStatV2, parseProcIo } from '../../src/runtime/linux/cgroup-usage.js';
import { parseNetDev } from '../../src/runtime/linux/netdev.js';
import { formatStats, statsRow, type UsageSample } from '../../src/supervise/stats.js';

/**
 * `vessel stats` on Linux (issue 16): the kernel's files, parsed (captured on these hosts or
 * copied from the kernel's documentation), and docker's columns computed from two samples.
 */

/** /proc/PID/net/dev of a container on a vessel bridge network (proc(5)). */
const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    9000      90    0    0    0     0          0         0     9000      90    0    0    0     0       0          0
  eth0:    1792      20    0    0    0     0          0         0      516       6    0    0    0     0       0          0
`;

/** Documentation/admin-guide/cgroup-v2.rst, "io.stat": an example with two devices. */
const IO_STAT = `8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0
8:0 rbytes=90430464 wbytes=299008000 rios=8950 wios=1252 dbytes=50331648 dios=3021
`;

describe('the kernel\'s files', () => {
  it('net/dev: every interface but lo, receive bytes (field 1) and transmit bytes (field 9)', () => {
    expect(parseNetDev(NET_DEV)).toEqual({ rxBytes: 1792, txBytes: 516 });
    expect(parseNetDev(NET_DEV.split('\n').slice(0, 3).join('\n'))).toEqual({ rxBytes: 0, txBytes: 0 });
  });
  it('io.stat (v2): rbytes and wbytes summed over devices', () => {
    expect(parseIoStatV2(IO_STAT)).toEqual({ readBytes: 91_889_664, writeBytes: 613_781_504 });
    expect(parseIoStatV2('')).toEqual({ readBytes: 0, writeBytes: 0 });
  });
  it('/proc/PID/io (v1 hosts): read_bytes and write_bytes, not rchar/wchar (those count cached reads too)', () => {
    const text = 'rchar: 323934931\nwchar: 323929600\nsyscr: 632687\nsyscw: 632675\nread_bytes: 4096\nwrite_bytes: 20975616\ncancelled_write_bytes: 0\n';
    expect(parseProcIo(text)).toEqual({ readBytes: 4096, writeBytes: 20_975_616 });
  });
  it('memory without the reclaimable cache, as docker counts it', () => {
    expect(memoryWithoutCache(10_000_000, 'cache 4000000\ninactive_file 100\ntotal_inactive_file 3000000\n', 1)).toBe(7_000_000);
    expect(memoryWithoutCache(10_000_000, 'anon 5000000\ninactive_file 3000000\n', 2)).toBe(7_000_000);
    // never below zero, and nothing to subtract when memory.stat is missing
    expect(memoryWithoutCache(100, 'inactive_file 500\n', 2)).toBe(100);
    expect(memoryWithoutCache(100, undefined, 1)).toBe(100);
  });
});

describe('docker\'s columns from two samples', () => {
  const sample = (at: number, cpuNanos: number, runId = 'r1'): UsageSample => ({
    name: 'web', runId, at,
    stats: { cpuNanos, memoryBytes: 32 << 20, pids: 3, netRxBytes: 1792, netTxBytes: 516, blockReadBytes: 0, blockWriteBytes: 31_469_568 },
  });

  it('CPU % is CPU time over wall time, per core; memory against the host when there is no limit', () => {
    // 1.5 s of CPU in 1 s: one and a half cores busy
    const row = statsRow('web', sample(2000, 2.5e9), sample(1000, 1e9), 1024 << 20);
    expect(row).toEqual({
      name: 'web', cpuPercent: 150, memoryBytes: 32 << 20, memoryLimitBytes: 1024 << 20, memoryPercent: 3.13,
      netRxBytes: 1792, netTxBytes: 516, blockReadBytes: 0, blockWriteBytes: 31_469_568, pids: 3,
    });
    expect(formatStats([row, statsRow('gone', undefined, undefined)])).toBe(
      'NAME  CPU %    MEM USAGE / LIMIT  MEM %  NET I/O          BLOCK I/O      PIDS\n' +
      'web   150.00%  33.6 MB / 1.07 GB  3.13%  1.79 kB / 516 B  0 B / 31.5 MB  3\n' +
      'gone  --       --                 --     --               --             --\n',
    );
  });
  it('no CPU % without a previous sample of the same run (a restart starts the counters over)', () => {
    expect(statsRow('web', sample(2000, 2e9), undefined).cpuPercent).toBeUndefined();
    expect(statsRow('web', sample(2000, 2e9, 'r2'), sample(1000, 9e9, 'r1')).cpuPercent).toBeUndefined();
  });
  it('the container\'s memory limit when it has one', () => {
    const s = sample(2000, 0);
    s.stats.memoryLimitBytes = 64 << 20;
    expect(statsRow('web', s, undefined)).toMatchObject({ memoryLimitBytes: 64 << 20, memoryPercent: 50 });
  });
});
