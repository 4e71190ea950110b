#!/usr/bin/env node
// `node dist/main.js`: the telepresence CLI from a built checkout (the packaged binary starts in
// sea/sea-main.ts).
import { fileURLToPath } from 'node:url';
import { runCli } from './run-cli.js';

await runCli(fileURLToPath(import.meta.url));
