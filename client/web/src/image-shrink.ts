/**
 * Shrinking a picture in the browser before it is posted: decoded with
 * createImageBitmap (EXIF orientation applied), drawn on a canvas at most
 * `maxEdge` pixels on its long edge, and encoded as JPEG at a quality that
 * steps down until it fits `maxBytes`; then smaller still if it must.
 * Every picture is re-encoded, even a small one: the copy that leaves the
 * device carries no EXIF data (no location, no camera serial number).
 */

/** Options of {@link shrinkImage}. */
export interface ShrinkOptions {
  /** Largest encoded size in bytes. */
  maxBytes: number
  /** Largest width or height in pixels. */
  maxEdge: number
}

/** A shrunk picture. */
export interface ShrunkImage {
  readonly blob: Blob
  readonly mime: 'image/jpeg'
  readonly width: number
  readonly height: number
}

/** Post images: the network carries 256 KiB; 1280 px is plenty on a phone and a laptop. */
export const POST_IMAGE_LIMITS: ShrinkOptions = { maxBytes: 256 * 1024, maxEdge: 1280 }
/** Avatars: 32 KiB, shown small. */
export const AVATAR_LIMITS: ShrinkOptions = { maxBytes: 32 * 1024, maxEdge: 256 }

/** JPEG qualities tried in turn at one size, best first. */
const QUALITIES = [0.86, 0.78, 0.7, 0.62, 0.54, 0.46, 0.38]
/** When no quality fits, the edge shrinks by this factor and the qualities are tried again. */
const EDGE_STEP = 0.75
/**
 * Shrinking stops below this many pixels on the long edge: a picture that
 * does not fit even then is not worth sending. A picture already smaller
 * (an icon, pixel art) is still tried once at its own size.
 */
const MIN_EDGE = 48

/** The picture could not be read or made small enough. */
export class ImageShrinkError extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ImageShrinkError'
  }
}

async function encode (canvas: HTMLCanvasElement, quality: number): Promise<Blob> {
  return await new Promise((resolve, reject) => {
    canvas.toBlob((blob) => { blob === null ? reject(new ImageShrinkError('This browser could not encode the picture as JPEG')) : resolve(blob) }, 'image/jpeg', quality)
  })
}

/** Shrinks `file` (any picture the browser decodes) to a JPEG within `options`. */
export async function shrinkImage (file: Blob, options: ShrinkOptions): Promise<ShrunkImage> {
  let bitmap: ImageBitmap
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' })
  } catch (cause) {
    throw new ImageShrinkError('This file is not a picture the browser can read; choose a JPEG, PNG, WebP or GIF', { cause })
  }
  try {
    const canvas = document.createElement('canvas')
    const context = canvas.getContext('2d')
    if (context === null) throw new ImageShrinkError('This browser cannot draw pictures (no canvas)')
    const start = Math.min(options.maxEdge, Math.max(bitmap.width, bitmap.height))
    for (let edge = start; edge === start || edge >= MIN_EDGE; edge = Math.floor(edge * EDGE_STEP)) {
      const scale = edge / Math.max(bitmap.width, bitmap.height)
      canvas.width = Math.max(1, Math.round(bitmap.width * scale))
      canvas.height = Math.max(1, Math.round(bitmap.height * scale))
      // JPEG has no transparency: a transparent PNG gets a white background, not a black one.
      context.fillStyle = '#ffffff'
      context.fillRect(0, 0, canvas.width, canvas.height)
      context.imageSmoothingQuality = 'high'
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height)
      for (const quality of QUALITIES) {
        const blob = await encode(canvas, quality)
        if (blob.size <= options.maxBytes) return { blob, mime: 'image/jpeg', width: canvas.width, height: canvas.height }
      }
    }
    throw new ImageShrinkError('This picture could not be made small enough; choose a simpler one')
  } finally {
    bitmap.close()
  }
}
