import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root folder, wherever the process was started from. */
export const ROOT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const VIEWS_DIR = path.join(ROOT_DIR, 'views');
export const PUBLIC_DIR = path.join(ROOT_DIR, 'public');
