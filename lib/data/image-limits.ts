/**
 * Size limits every image decode honours (data stages and serving): bytes, and the header's pixel count checked
 * before any pixel is decoded (decompression bombs). Its own module so lib/face and lib/data share it without an
 * import cycle.
 */
export const DEFAULT_MAX_INPUT_PIXELS = 40_000_000;
export const DEFAULT_MAX_INPUT_BYTES = 50 * 1024 * 1024;
