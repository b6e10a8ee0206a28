#!/usr/bin/env node
// Entry point of the sample-cli bundle: `node sample-cli.js run [WORKSPACE] [options]`.
import { main } from './src/cli.js';

process.exitCode = await main();
