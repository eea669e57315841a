import os from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Reading ahead on a second thread: the small attribute files of every function of a large host (`list`), read
 * in the order the main thread will want them, while it reports and prints the groups before. The files are
 * most of list's system calls, and a call made through Node costs the main thread about as much as the
 * JavaScript that reports the function (bench/results.md, History), so on a machine with a second core the
 * two overlap.
 *
 * The thread only reads: what a file holds, or that it does not exist. Everything else (an error, an empty read
 * that may be a FIFO planted in the tree, a read that fills its slot, a thread that stalls or dies) is left to
 * the main thread, which reads that file itself as it does without a thread (src/host/sysfs-read.ts): the
 * output, the errors and the checks are the same either way. The thread runs the few lines below, not the
 * bundle: a second copy of vfioctl would cost more memory than the 100 MB list may use at 10,000 functions.
 */

/** The text of a file; undefined: it does not exist; null: not read ahead, the caller reads it. */
export type AheadText = string | undefined | null;

/**
 * Below this many files (2,500 functions of three files), the thread's start (some 20 ms of the other core)
 * is not paid back: at 3,000 functions list took 268 ms with one thread and 256 with two (bench/results.md).
 */
const MIN_FILES = 7500;
/** Bytes one read may take: attribute files are short (a function's uevent is under 250 bytes). */
const SLOT = 4096;
/** Room per file in the shared data: a function's uevent, driver_override and reset_method come to about 200 bytes. */
const PER_FILE = 160;
/** How long the main thread waits for the thread to move before it reads the rest itself. */
const STALL_MS = 1000;

/** Index entries, two per file: its offset in the data, then its length or one of these. */
const ABSENT = -1;
const ASK_AGAIN = -2;

interface ThreadData {
  names: string[];
  flags: number;
  /** One Int32: how many files are done. */
  control: SharedArrayBuffer;
  index: SharedArrayBuffer;
  data: SharedArrayBuffer;
  slot: number;
}

/** What the thread runs. It is passed as source text, so it uses nothing from outside its own body. */
function readAheadThread(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- an eval'd worker is CommonJS: require is its import */
  const { workerData, parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const fs = require('node:fs') as typeof import('node:fs');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const { names, flags, control, index, data, slot } = workerData as ThreadData;
  const done = new Int32Array(control);
  const idx = new Int32Array(index);
  const out = Buffer.from(data);
  const readOne = (file: string, at: number): number => {
    if (at + slot > out.length) return -2; // no room left: ASK_AGAIN
    let fd = -1;
    try {
      fd = fs.openSync(file, flags);
      const n = fs.readSync(fd, out, at, slot, 0);
      return n > 0 && n < slot ? n : -2; // empty (a FIFO?) or maybe cut short: ASK_AGAIN
    } catch (err) {
      const code = (err as { code?: string }).code;
      return fd < 0 && (code === 'ENOENT' || code === 'ENOTDIR') ? -1 : -2; // ABSENT, else ASK_AGAIN
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  };
  parentPort!.once('message', (dirs: string[]) => {
    let at = 0;
    let k = 0;
    for (const dir of dirs) {
      for (const name of names) {
        const n = readOne(`${dir}/${name}`, at);
        idx[2 * k] = at;
        idx[2 * k + 1] = n;
        if (n > 0) at += n;
        k++;
      }
      Atomics.store(done, 0, k);
      Atomics.notify(done, 0);
    }
  });
}

export class ReadAhead {
  private readonly done: Int32Array;
  private readonly idx: Int32Array;
  private readonly data: Buffer;
  private abandoned = false;

  private constructor(
    private readonly worker: Worker,
    shared: Pick<ThreadData, 'control' | 'index' | 'data'>,
    /** How many files each directory has: file k of directory d is file d * perDir + k. */
    private readonly perDir: number,
    /** How many directories there is room for. */
    private readonly capacity: number,
  ) {
    this.done = new Int32Array(shared.control);
    this.idx = new Int32Array(shared.index);
    this.data = Buffer.from(shared.data);
  }

  /**
   * Starts the thread for up to `dirs` directories of the files `names` each, before the caller knows which
   * directories: the thread's start overlaps the caller's work until begin(). Undefined when it is not worth a
   * thread (a small host, one CPU) or no thread can be had. `flags`: the open flags the caller uses.
   */
  static prepare(dirs: number, names: readonly string[], flags: number, minFiles = MIN_FILES): ReadAhead | undefined {
    const files = dirs * names.length;
    if (files === 0 || files < minFiles || os.availableParallelism() < 2) return undefined;
    const shared = { control: new SharedArrayBuffer(4), index: new SharedArrayBuffer(8 * files), data: new SharedArrayBuffer(PER_FILE * files + SLOT) };
    let worker: Worker;
    try {
      worker = new Worker(`(${readAheadThread.toString()})()`, {
        eval: true,
        workerData: { names: [...names], flags, slot: SLOT, ...shared } satisfies ThreadData,
        // It needs little heap; a small one keeps list's peak memory down.
        resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
      });
    } catch {
      return undefined;
    }
    worker.unref(); // never keeps the process alive
    worker.on('error', () => undefined); // a thread that dies is one that stalls: the caller reads the rest
    return new ReadAhead(worker, shared, names.length, dirs);
  }

  /** Gives the thread the directories, in the order take() will ask for them (at most prepare's count). */
  begin(dirs: string[]): void {
    if (dirs.length > this.capacity) throw new Error(`internal: ${dirs.length} directories to read ahead, room for ${this.capacity}`);
    this.worker.postMessage(dirs);
  }

  /** File `k` of directory `d`: its text, undefined when it does not exist, null when the caller must read it. */
  take(d: number, k: number): AheadText {
    if (this.abandoned) return null;
    const file = d * this.perDir + k;
    if (!this.waitFor(file)) return null;
    const n = this.idx[2 * file + 1]!;
    if (n === ABSENT) return undefined;
    if (n === ASK_AGAIN) return null;
    const at = this.idx[2 * file]!;
    return this.data.toString('latin1', at, at + n);
  }

  /** Waits until the thread is past `file`; false, and no more waiting, once it has not moved for STALL_MS. */
  private waitFor(file: number): boolean {
    for (let done = Atomics.load(this.done, 0); done <= file; done = Atomics.load(this.done, 0)) {
      if (Atomics.wait(this.done, 0, done, STALL_MS) === 'timed-out' && Atomics.load(this.done, 0) === done) {
        this.stop();
        return false;
      }
    }
    return true;
  }

  /** Stops the thread; the caller reads what it did not. */
  stop(): void {
    this.abandoned = true;
    void this.worker.terminate();
  }
}
