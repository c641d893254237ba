/** Pixel coordinates [x, y] in the (EXIF-oriented) source image; pixel centres sit on integers. */
export type Point = [number, number];

/** The five points face alignment uses, named from the viewer's side (leftEye is on the image's left). */
export interface FaceLandmarks5 {
  leftEye: Point;
  rightEye: Point;
  nose: Point;
  mouthLeft: Point;
  mouthRight: Point;
}

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DetectedFace {
  box: FaceBox;
  /** Detector confidence in [0, 1]. */
  score: number;
  landmarks: FaceLandmarks5;
}

/** A decoded image: interleaved 8-bit RGB, row-major. */
export interface RgbImage {
  data: Buffer;
  width: number;
  height: number;
}
