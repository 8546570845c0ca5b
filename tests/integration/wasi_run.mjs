// Runs a WASI (preview1) command under Node's built-in WASI with a directory
// preopened as "/", as a runtime would run a package's command:
//   node wasi_run.mjs ROOT COMMAND.wasm [ARGS...]
// Exits with the command's exit code.
import { readFile } from 'node:fs/promises';
import { argv, exit } from 'node:process';
import { WASI } from 'node:wasi';

const [root, wasm, ...args] = argv.slice(2);
const wasi = new WASI({
  version: 'preview1',
  args: [wasm, ...args],
  env: {},
  preopens: { '/': root },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasm));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance));
