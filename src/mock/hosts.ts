import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, NotFoundError, PermissionError } from '../errors.js';
import type { HostDescription } from './description.js';
import { validateDescription } from './validate.js';

/**
 * The bundled simulated hosts (mock-sysfs/hosts/NAME.json) and host description files. The bundle lives in
 * dist/ and the sources in src/mock/; both find mock-sysfs/ by walking up from their own location.
 */
const MAX_DESCRIPTION = 64 * 1024 * 1024;

export function bundledHostsDir(): string {
  const fromEnv = process.env.VFIOCTL_HOSTS_DIR;
  if (fromEnv) return fromEnv;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'mock-sysfs', 'hosts');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new NotFoundError('The bundled simulated hosts (mock-sysfs/hosts) are not installed next to vfioctl.');
}

export function listBundledHosts(): { name: string; summary: string }[] {
  const dir = bundledHostsDir();
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const desc = readDescriptionFile(path.join(dir, f));
      return { name: desc.name, summary: desc.summary };
    });
}

/** A bundled host by name (`workstation`), or a description file (`./host.json`). */
export function loadHostDescription(nameOrFile: string): HostDescription {
  if (/^[a-z0-9][a-z0-9-]{0,63}$/.test(nameOrFile)) {
    const file = path.join(bundledHostsDir(), `${nameOrFile}.json`);
    if (fs.existsSync(file)) return readDescriptionFile(file);
    if (!fs.existsSync(nameOrFile)) {
      const names = listBundledHosts().map((h) => h.name);
      throw new NotFoundError(`There is no bundled simulated host named '${nameOrFile}'.`, `Bundled hosts: ${names.join(', ')}; or give a description file (FILE.json).`);
    }
  }
  return readDescriptionFile(nameOrFile);
}

export function readDescriptionFile(file: string): HostDescription {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new InputError(`${file} is not a host description file.`);
    if (st.size > MAX_DESCRIPTION) throw new InputError(`${file} is ${st.size} bytes; host descriptions are limited to ${MAX_DESCRIPTION} bytes.`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError(`Cannot read ${file}: it does not exist.`);
    if (code === 'EACCES') throw new PermissionError(`Cannot read ${file}: permission denied.`);
    throw new InputError(`Cannot read ${file}: ${code ?? String(err)}.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file} is not valid JSON: ${(err as Error).message}.`);
  }
  return validateDescription(value, file);
}
