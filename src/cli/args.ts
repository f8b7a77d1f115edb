/** A small argv parser for subcommands: flags, options with a value, positionals. Unknown options are errors naming the option. */

export class CliUsageError extends Error {}

export interface ParsedArgs {
  flags: Set<string>;
  options: Map<string, string>;
  positional: string[];
}

export function parseArgs(argv: string[], spec: { flags: string[]; options: string[] }): ParsedArgs {
  const out: ParsedArgs = { flags: new Set(), options: new Map(), positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && a !== '-') {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(0, eq) : a;
      if (spec.flags.includes(name) && eq < 0) {
        out.flags.add(name);
      } else if (spec.options.includes(name)) {
        const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new CliUsageError(`option ${name} needs a value`);
        out.options.set(name, value);
      } else {
        throw new CliUsageError(`unknown option ${name}`);
      }
    } else {
      out.positional.push(a);
    }
  }
  return out;
}
