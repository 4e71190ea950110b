// The man page, generated from the packaged binary's own --help output (so the two always match).

/** Command names listed in the "Commands:" section of a commander help text. */
export function listedCommands(helpText) {
  const section = helpText.split(/^Commands:$/m)[1] ?? '';
  return section
    .split('\n')
    .map((line) => /^ {2}([a-z][\w-]*)/.exec(line)?.[1])
    .filter((name) => name !== undefined && name !== 'help');
}

const escape = (text) =>
  text
    .replace(/\\/g, '\\e')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');

/** help(args) returns `telepresence ...args --help`. */
export function manPage(version, help) {
  const sections = [];
  const walk = (args) => {
    const text = help(args);
    sections.push(`.SS "telepresence ${args.join(' ')}"\n.nf\n${escape(text.trimEnd())}\n.fi`);
    for (const sub of listedCommands(text)) walk([...args, sub]);
  };
  const top = help([]);
  for (const name of listedCommands(top)) walk([name]);
  return [
    `.TH TELEPRESENCE 1 "" "telepresence ${version}" "User Commands"`,
    '.SH NAME',
    'telepresence \\- reach a Kubernetes cluster network from this workstation as if it were a pod',
    '.SH SYNOPSIS',
    '.B telepresence',
    '.I command',
    '[\\fIoptions\\fR]',
    '.SH DESCRIPTION',
    'Run as yourself: commands that need the network daemon start it as root through',
    '.BR sudo (8)',
    '(asking for your password when needed). Your kubeconfig and credential plugins are used as you.',
    '.PP',
    '.nf',
    escape(top.trimEnd()),
    '.fi',
    '.SH COMMANDS',
    ...sections,
    '.SH FILES',
    '.TP',
    '.I /run/telepresence/daemon.sock',
    "The daemon's socket: only the user who started the daemon (and root) may use it.",
    '.TP',
    '.I /run/telepresence/daemon.log',
    "The daemon's log, readable by that user.",
    '.TP',
    '.I ~/.config/telepresence/config.yml',
    'The user configuration (see telepresence config view).',
    '',
  ].join('\n');
}
