/**
 * The social layer's public shapes (SPEC §14): posts to the world and to the
 * trusted circle, feeds, profiles. The node implements them in
 * node/social/; the control API, the CLI and the web UI speak them.
 */

/** Who can read a post or a profile: every node of the network, or the author's trusted circle. */
export type Audience = 'world' | 'circle'

/** Which feed: `world` (posts to the world, the author's own included) or `home` (circle posts of those who trust us, and our own posts). */
export type FeedName = 'world' | 'home'

/** An image carried by a post or a profile. */
export interface PostImage {
  /** `image/jpeg`, `image/png`, `image/webp` or `image/gif`. */
  readonly mime: string
  readonly bytes: Uint8Array
}

/** A post as a feed shows it: only once every part has arrived and its signature (and, for the world, the author's name certificate) checked out. */
export interface Post {
  /**
   * The post id: the hex of the 16-byte message id followed by the hex of
   * the author id, 96 hex characters (SPEC §14.7). Opaque to clients: pass
   * it back as it is (`getPost`, the control API's `/api/posts/:id`). Message
   * ids are the author's choice; with the author in the id, another author
   * reusing one makes another post, not a replacement of this one.
   */
  readonly id: string
  /** Author's contact id (hex Ed25519 key). */
  readonly author: string
  /** Author's hex public identity (128 hex characters). */
  readonly authorIdentity: string
  /** The author's registered name, from the certificate the post carries, checked under the pinned Operator key. */
  readonly authorName?: string
  readonly audience: Audience
  /** Up to 1,000 characters (may be empty when there is an image). */
  readonly text: string
  readonly image?: PostImage
  /** Author's clock, unix ms. */
  readonly sentAt: number
  /** Our clock, unix ms, when the last part arrived. */
  readonly receivedAt: number
  /** When the post disappears from every store, unix ms. */
  readonly expiresAt: number
  /** True for this node's own posts. */
  readonly mine: boolean
  /** Where the author said the post was written, coarsely (SPEC §14.6): absent when they did not say. */
  readonly location?: PostLocation
}

/**
 * A post's coarse place: the geohash it carries and the centre of that
 * cell. The author's point is somewhere in the cell, up to `errKm` from the
 * centre along each axis; a reader's "within R km" filter uses the centre.
 */
export interface PostLocation {
  /** 1 to 6 geohash characters (SPEC §14.6). */
  readonly geohash: string
  /** The cell's centre, degrees. */
  readonly lat: number
  readonly lon: number
  /** The cell's larger half-extent, km (north-south or east-west at its centre). */
  readonly errKm: number
}

/** A point to post from, cut to a geohash of `precision` characters before it is sealed: the point itself never leaves the node. */
export interface PostLocationInput {
  /** Degrees, -90 to 90. */
  lat: number
  /** Degrees, -180 to 180. */
  lon: number
  /** Geohash characters, 1 to 6 (6: about 1.2 × 0.6 km; 5: about 5 km; 4: about 20 km). @default 5 */
  precision?: number
}

/** What {@link SocialApi.post} takes. */
export interface PostInput {
  /** Up to 1,000 characters. At least one of text and image. */
  text?: string
  /** Up to 256 KiB (the web UI shrinks larger pictures first). */
  image?: PostImage
  /** @default 'world' */
  audience?: Audience
  /** Lifetime in whole days, 1 to 7. @default 2 */
  days?: number
  /** Lifetime in minutes (1 to 10,080) instead of days: ephemeral posts, and tests. */
  ttlMinutes?: number
  /** A coarse place, carried inside the sealed post as a geohash (SPEC §14.6). */
  location?: PostLocationInput
}

/** One page of a feed, newest first. */
export interface FeedPage {
  readonly posts: Post[]
  /** Pass as `before` for the next (older) page; absent on the last page. */
  readonly next?: string
}

/** A profile, ours or another's. The newest one (by the author's clock) replaces older ones; a republication is a newer one. */
export interface Profile {
  /** Contact id (hex Ed25519 key) of its owner. */
  readonly author: string
  readonly authorIdentity: string
  /** Registered name, when a certificate came with it. */
  readonly authorName?: string
  /** Up to 64 characters. */
  readonly displayName: string
  /** Up to 500 characters. */
  readonly bio: string
  /** A small image, up to 32 KiB. */
  readonly avatar?: PostImage
  readonly audience: Audience
  /** Author's clock when it was set, unix ms. */
  readonly updatedAt: number
}

/** What {@link SocialApi.setProfile} takes. */
export interface ProfileInput {
  displayName: string
  bio?: string
  avatar?: PostImage
  /** @default 'world' */
  audience?: Audience
}

/** A member of this node's trusted circle. */
export interface CircleMember {
  /** Contact id. */
  readonly id: string
  readonly identity: string
  readonly name?: string
  /** When they were added, unix ms. */
  readonly addedAt: number
}

/**
 * The social API of a node (`node.social`). Events on the node: `post`
 * (detail: Post; every post a feed gains, ours included) and `profile`
 * (detail: Profile; a newer profile replaced an older one).
 */
export interface SocialApi {
  /** Seals, works and queues a post; resolves once it is safely in the outbox. World posts need a registered name. */
  post(input: PostInput, options?: { signal?: AbortSignal }): Promise<Post>
  /** A page of a feed, newest first; expired posts are never listed. */
  feed(name: FeedName, options?: { before?: string, limit?: number }): Promise<FeedPage>
  /** One post by its post id ({@link Post.id}, 96 hex characters), if a feed holds it. */
  getPost(id: string): Promise<Post | undefined>
  /** Live posts as feeds gain them, until `signal` aborts or the node stops. */
  posts(options?: { signal?: AbortSignal, feed?: FeedName }): AsyncIterableIterator<Post>
  /** Sets and publishes this node's profile. */
  setProfile(input: ProfileInput, options?: { signal?: AbortSignal }): Promise<Profile>
  /** This node's profile, or the newest known profile of a contact id. */
  profile(author?: string): Promise<Profile | undefined>
  /** Every known profile. */
  profiles(): Promise<Profile[]>
  readonly circle: {
    /** Those who read our circle posts. */
    list(): Promise<CircleMember[]>
    /**
     * Adds a contact (id, hex identity, name or invite, as `contacts.add`) and hands them the circle's
     * chain key. A member already is handed the current chain again (the list does not change).
     */
    add(contact: string, options?: { signal?: AbortSignal }): Promise<CircleMember>
    /** Removes a member and rotates the chain: they read nothing posted afterwards. */
    remove(id: string): Promise<boolean>
  }
}
