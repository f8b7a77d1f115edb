/** The process's stdout and stderr as the subcommands' Output, one line per call. */

import type { Output } from './analyze.js';

export const stdio: Output = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};
