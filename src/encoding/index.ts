/** Text encoding and segmentation for SMS: GSM 03.38 / UCS-2 selection and splitting, DCS decoding (pure). */
export { decodeGsm7Unpacked, encodeGsm7Unpacked, gsmSeptets, isGsm7 } from './gsm.js';
export { decodeUcs2, encodeUcs2 } from './ucs2.js';
export { decodeText } from './dcs.js';
export { chooseCoding, countParts, encodeMessage } from './segment.js';
export type { Coding, ConcatMethod, EncodedMessage, EncodeOptions, SmsPart, TooLong } from './segment.js';
