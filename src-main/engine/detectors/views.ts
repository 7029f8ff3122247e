// The views of an image a patch detector may also learn from: its mirror images and turns. A
// part that turns on the line (a cast impeller) shows a few shots of it in a few poses only; the
// views fill in the others (EVALUATION.md, Few good images).
import * as tf from '@tensorflow/tfjs';

/** One view of a batch of images [B, H, W, 3]; call it inside tf.tidy. */
export type View = (images: tf.Tensor4D) => tf.Tensor4D;

export const identity: View = (images) => images;
const mirror: View = (images) => tf.reverse(images, 2);
const flip: View = (images) => tf.reverse(images, 1);
const halfTurn: View = (images) => tf.reverse(images, [1, 2]);
const transpose: View = (images) => tf.transpose(images, [0, 2, 1, 3]);

/**
 * The images as they are, their mirror images and half turn: the views a one-class model may also
 * score an image in (PatchcoreDetector.learnPlaces). Each undoes itself, so a patch map [B, h, w,
 * 1] scored in one is brought back onto the image by the same view.
 */
export const SCORED_VIEWS: readonly View[] = [identity, mirror, flip, halfTurn];

/**
 * The views of images of shape [B, H, W, 3], the images as they are first: their mirror images
 * and half turn, and when square their quarter turns and those turns' mirror images too (the
 * eight symmetries of a square). A quarter turn of an oblong image would change its shape.
 */
export function imageViews([, height, width]: readonly number[]): View[] {
  const views = [...SCORED_VIEWS];
  return height === width
    ? [
        ...views,
        ...views.map(
          (view): View =>
            (images) =>
              view(transpose(images)),
        ),
      ]
    : views;
}
