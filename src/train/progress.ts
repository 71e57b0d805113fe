/** Training progress: the record the loop reports, and the default terminal bar. */

export interface Progress {
  readonly step: number;
  readonly totalSteps?: number | undefined;
  readonly loss: number;
  readonly stepsPerSecond: number;
  readonly etaSeconds?: number | undefined;
  readonly evaluation?: number | undefined;
  /** The last report of a run. */
  readonly done?: boolean;
}

const fmtTime = (s: number): string => {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${Math.round(s % 60).toString().padStart(2, "0")}s` : `${s.toFixed(1)}s`;
};

/** One line describing a progress record. */
export const formatProgress = (p: Progress, width = 24): string => {
  const frac = p.totalSteps === undefined ? undefined : Math.min(1, p.step / p.totalSteps);
  const bar = frac === undefined ? "" : `[${"#".repeat(Math.round(frac * width)).padEnd(width, ".")}] `;
  const of = p.totalSteps === undefined ? `${p.step}` : `${p.step}/${p.totalSteps}`;
  const ev = p.evaluation === undefined ? "" : `  eval ${p.evaluation.toFixed(4)}`;
  const eta = p.etaSeconds === undefined ? "" : `  eta ${fmtTime(p.etaSeconds)}`;
  return `${bar}step ${of}  loss ${p.loss.toFixed(4)}${ev}  ${p.stepsPerSecond.toFixed(2)} steps/s${eta}`;
};

/**
 * A progress reporter writing to stderr: an updating line on a terminal, and
 * one line every `every` steps (and on evaluations) otherwise.
 */
export const progressBar = (options: { readonly every?: number; readonly stream?: NodeJS.WriteStream } = {}): ((p: Progress) => void) => {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const every = options.every ?? 10;
  return (p) => {
    if (p.done === true) {
      if (tty) stream.write("\n");
      return;
    }
    if (tty) stream.write(`\r${formatProgress(p)}\x1b[K`);
    else if (p.step % every === 0 || p.evaluation !== undefined || p.step === p.totalSteps) stream.write(`${formatProgress(p)}\n`);
  };
};
