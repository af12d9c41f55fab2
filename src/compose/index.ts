/** docker compose files → vessel specs (`vessel compose convert|up|down`). */
export type * from './types.js';
export { loadCompose, normalizeProject, type ComposeSource, type LoadOptions } from './load.js';
export { convertCompose, validateConversion, formatFindings, type ConvertOptions } from './convert.js';
export { writeConversion } from './write.js';
export { interpolate, InterpolationError } from './interpolate.js';
export { parseDotenv } from './dotenv.js';
