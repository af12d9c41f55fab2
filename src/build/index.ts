/** `vessel build`: Vesselfile → image. */
export { buildImage, type BuildOptions } from './build.js';
export { parseVesselfile, substitute, splitWords, type Instruction } from './vesselfile.js';
