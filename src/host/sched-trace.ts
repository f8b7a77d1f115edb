/**
 * The kernel's scheduler trace (ftrace's sched_switch and sched_wakeup, on
 * CLOCK_MONOTONIC — the clock of vmig's own trace points), recorded around
 * a switchover: which thread ran on which CPU, and when a thread that was
 * woken or preempted got a CPU again. bench:migrate --sched uses it to say
 * how long each VMM's event loop waited for a CPU inside the downtime, and
 * which threads had the CPUs meanwhile (cli/sched-summary.ts).
 *
 * tracefs is global state: start() records every setting it changes and
 * stop() puts them back. Root only; `schedTraceUnavailableReason()` says why
 * not, and a bench then runs without it.
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const TRACEFS = '/sys/kernel/tracing';
/** Per-CPU ring size while recording (KiB): a migration's second of events fits many times over. */
const BUFFER_KB = 16384;

export interface SchedSwitch {
  kind: 'switch';
  cpu: number;
  /** CLOCK_MONOTONIC, ms. */
  timeMs: number;
  prevTid: number;
  /** The state the previous thread left in: R (preempted, still runnable), S, D, … */
  prevState: string;
  nextTid: number;
}

export interface SchedWakeup {
  kind: 'wakeup';
  cpu: number;
  timeMs: number;
  tid: number;
  targetCpu: number;
}

export type SchedRecord = SchedSwitch | SchedWakeup;

const LINE = /\[(\d+)\][^:]*?\s(\d+\.\d+): (sched_switch|sched_wakeup): (.*)$/;
const SWITCH = /prev_pid=(\d+) .*?prev_state=(\S+) ==> next_comm=.* next_pid=(\d+)/;
const WAKEUP = /pid=(\d+) .*?target_cpu=(\d+)/;

/** The records of ftrace's text output (`trace`), in file order; other lines are skipped. */
export function parseSchedTrace(text: string): SchedRecord[] {
  const out: SchedRecord[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const cpu = Number(m[1]);
    const timeMs = Number(m[2]) * 1000;
    if (m[3] === 'sched_switch') {
      const s = SWITCH.exec(m[4]!);
      if (s) out.push({ kind: 'switch', cpu, timeMs, prevTid: Number(s[1]), prevState: s[2]!, nextTid: Number(s[3]) });
    } else {
      const w = WAKEUP.exec(m[4]!);
      if (w) out.push({ kind: 'wakeup', cpu, timeMs, tid: Number(w[1]), targetCpu: Number(w[2]) });
    }
  }
  return out;
}

/** Why the scheduler cannot be traced here, or undefined when it can. */
export function schedTraceUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'tracing the scheduler needs root';
  if (!existsSync(`${TRACEFS}/events/sched/sched_switch/enable`)) return `tracefs is not mounted at ${TRACEFS} (mount -t tracefs nodev ${TRACEFS})`;
  if (!readFileSync(`${TRACEFS}/trace_clock`, 'utf8').includes('mono')) return 'this kernel\'s ftrace has no mono clock';
  return undefined;
}

const SETTINGS = ['trace_clock', 'buffer_size_kb', 'events/sched/sched_switch/enable', 'events/sched/sched_wakeup/enable', 'tracing_on'] as const;

/** The value in force of a tracefs setting (trace_clock lists all, the chosen one in brackets). */
function current(name: string): string {
  const v = readFileSync(`${TRACEFS}/${name}`, 'utf8').trim();
  return /\[(\S+)\]/.exec(v)?.[1] ?? v;
}

export class SchedTrace {
  readonly #saved: Map<string, string>;
  #stopped = false;

  private constructor(saved: Map<string, string>) {
    this.#saved = saved;
  }

  /**
   * Start recording (the ring emptied first).
   * @throws Error when tracefs refuses (schedTraceUnavailableReason first)
   */
  static start(): SchedTrace {
    const saved = new Map(SETTINGS.map((s) => [s, current(s)]));
    const t = new SchedTrace(saved);
    try {
      const w = (name: string, value: string) => writeFileSync(`${TRACEFS}/${name}`, value);
      w('tracing_on', '0');
      w('trace_clock', 'mono');
      w('buffer_size_kb', String(BUFFER_KB));
      w('events/sched/sched_switch/enable', '1');
      w('events/sched/sched_wakeup/enable', '1');
      w('trace', '');
      w('tracing_on', '1');
    } catch (err) {
      t.#restore();
      throw err;
    }
    return t;
  }

  /** Stop, read what was recorded, and put every setting back. */
  stop(): SchedRecord[] {
    if (this.#stopped) return [];
    this.#stopped = true;
    writeFileSync(`${TRACEFS}/tracing_on`, '0');
    try {
      return parseSchedTrace(readFileSync(`${TRACEFS}/trace`, 'utf8'));
    } finally {
      writeFileSync(`${TRACEFS}/trace`, '');
      this.#restore();
    }
  }

  #restore(): void {
    // tracing_on last, the clock before the events: as they were.
    for (const name of ['events/sched/sched_switch/enable', 'events/sched/sched_wakeup/enable', 'trace_clock', 'buffer_size_kb', 'tracing_on'] as const) {
      try {
        writeFileSync(`${TRACEFS}/${name}`, this.#saved.get(name)!);
      } catch {
        // Best effort: a setting that cannot be put back is left as it is.
      }
    }
  }
}
