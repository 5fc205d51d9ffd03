/**
 * Profiles: yours to edit (display name, bio, an avatar shrunk here to at
 * most 32 KiB, who sees it), and anyone's to read, with their registered
 * name beside the display name they chose.
 */
import type { ApiProfile } from '../../api/types.js'
import { codePoints, MAX_BIO_CHARS, MAX_DISPLAY_NAME_BYTES, MAX_DISPLAY_NAME_CHARS, utf8Length } from '../../api/post-content.js'
import type { AppContext, Screen } from './app.js'
import { radio } from './composer.js'
import { h, replaceChildren, uniqueId } from './dom.js'
import { errorSentence, formatBytes, isApiError, longTime } from './format.js'
import { AVATAR_LIMITS, shrinkImage, type ShrunkImage } from './image-shrink.js'
import { avatarElement, avatarUrl, isolated, personName } from './post-view.js'

/** A read-only view of a profile. */
function profileFacts (profile: ApiProfile): HTMLElement {
  const name = personName(profile.author, profile.authorName, profile)
  return h('div', { class: 'profile-card' },
    profile.hasAvatar ? h('img', { class: 'avatar avatar-large', src: avatarUrl(profile.author, profile.updatedAt), alt: `Avatar of ${name}`, width: 96, height: 96 }) : avatarElement(profile.author, profile, name),
    h('dl', { class: 'facts' },
      h('dt', null, 'Display name'), h('dd', null, profile.displayName.trim() === '' ? '—' : isolated(profile.displayName)),
      h('dt', null, 'Registered name'), h('dd', null, profile.authorName === undefined ? 'None (not verified by the Operator)' : isolated(profile.authorName)),
      h('dt', null, 'Bio'), h('dd', { class: 'bio', dir: 'auto' }, profile.bio === '' ? '—' : profile.bio),
      h('dt', null, 'Shown to'), h('dd', null, profile.audience === 'world' ? 'Everyone (the world)' : 'Their circle'),
      h('dt', null, 'Updated'), h('dd', null, longTime(profile.updatedAt)),
      h('dt', null, 'Id'), h('dd', { class: 'code' }, profile.author)))
}

/** Someone's profile. */
function otherProfile (ctx: AppContext, author: string): Screen {
  const heading = h('h2', { tabindex: -1 }, 'Profile')
  const body = h('div', null, h('p', { role: 'status' }, 'Loading…'))
  const errorBox = h('p', { class: 'error', role: 'alert' })
  async function load (): Promise<void> {
    try {
      const profile = await ctx.client.profileOf(author)
      replaceChildren(heading, isolated(personName(profile.author, profile.authorName, profile)))
      replaceChildren(body, profileFacts(profile))
    } catch (error) {
      replaceChildren(body)
      errorBox.textContent = errorSentence(error)
    }
  }
  const unsubscribe = ctx.live.on('profile', (event) => { if (event.profile.author === author) void load() })
  void load()
  return {
    title: 'Profile',
    element: h('section', { class: 'pane page' }, h('a', { href: '#/feed', class: 'back' }, h('span', { 'aria-hidden': 'true' }, '← '), 'Back to the feed'), heading, errorBox, body),
    focus: heading,
    dispose: unsubscribe
  }
}

/** Your profile, with the form that sets it. */
function ownProfile (ctx: AppContext): Screen {
  const heading = h('h2', { tabindex: -1 }, 'Your profile')
  const current = h('div', null, h('p', { role: 'status' }, 'Loading…'))
  const formHeading = h('h3', { id: uniqueId('edit-profile') }, 'Edit your profile')
  const nameInput = h('input', { id: uniqueId('display-name'), type: 'text', required: true, maxlength: MAX_DISPLAY_NAME_CHARS, autocomplete: 'nickname' })
  const bio = h('textarea', { id: uniqueId('bio'), rows: 3 })
  const bioCounter = h('p', { id: uniqueId('bio-counter'), class: 'hint' })
  bio.setAttribute('aria-describedby', bioCounter.id)
  const avatarInput = h('input', { id: uniqueId('avatar'), type: 'file', accept: 'image/*', class: 'file' })
  const avatarHint = h('p', { id: uniqueId('avatar-hint'), class: 'hint' }, 'Shrunk here to at most 32 KiB. Leave empty to keep your current avatar.')
  avatarInput.setAttribute('aria-describedby', avatarHint.id)
  const avatarPreview = h('div', { class: 'preview-box', hidden: true })
  const removeAvatar = h('input', { id: uniqueId('remove-avatar'), type: 'checkbox' })
  const removeAvatarField = h('div', { class: 'choice', hidden: true }, removeAvatar, h('label', { for: removeAvatar.id }, 'Remove my avatar'))
  const audienceName = uniqueId('profile-audience')
  const audience = h('fieldset', { class: 'choices' }, h('legend', null, 'Who can see it'),
    radio(audienceName, 'world', 'Everyone (the world)', true), radio(audienceName, 'circle', 'My circle only', false))
  const button = h('button', { type: 'submit' }, 'Save profile')
  const errorBox = h('p', { class: 'error', role: 'alert' })
  const result = h('p', { class: 'success', role: 'status' })
  const form = h('form', { class: 'card', 'aria-labelledby': formHeading.id }, formHeading,
    h('div', { class: 'field' }, h('label', { for: nameInput.id }, 'Display name'), nameInput),
    h('div', { class: 'field' }, h('label', { for: bio.id }, 'Bio'), bio, bioCounter),
    h('div', { class: 'field' }, h('label', { for: avatarInput.id }, 'Avatar'), avatarInput, avatarHint, avatarPreview, removeAvatarField),
    audience, button, errorBox, result)
  let avatar: ShrunkImage | undefined
  let previewUrl: string | undefined
  let saved: ApiProfile | undefined
  let shrinking: Promise<void> = Promise.resolve()

  const updateCounter = (): void => {
    const used = codePoints(bio.value)
    bioCounter.textContent = `${used} of ${MAX_BIO_CHARS} characters`
    bioCounter.classList.toggle('error', used > MAX_BIO_CHARS)
  }
  bio.addEventListener('input', updateCounter)

  function clearAvatar (): void {
    avatar = undefined
    if (previewUrl !== undefined) URL.revokeObjectURL(previewUrl)
    previewUrl = undefined
    avatarPreview.hidden = true
    replaceChildren(avatarPreview)
  }

  /** Counts avatars chosen: a shrink that finishes after another was chosen is dropped. */
  let choice = 0
  avatarInput.addEventListener('change', () => {
    const file = avatarInput.files?.[0]
    clearAvatar()
    errorBox.textContent = ''
    const mine = ++choice
    if (file === undefined) return
    shrinking = shrinkImage(file, AVATAR_LIMITS).then((shrunk) => {
      if (mine !== choice) return
      avatar = shrunk
      previewUrl = URL.createObjectURL(shrunk.blob)
      replaceChildren(avatarPreview, h('img', { src: previewUrl, alt: 'Preview of your new avatar', class: 'avatar avatar-large' }),
        h('p', { class: 'hint' }, `${formatBytes(shrunk.blob.size)}, ${shrunk.width} × ${shrunk.height} pixels`))
      avatarPreview.hidden = false
    }, (error: unknown) => {
      if (mine !== choice) return
      avatarInput.value = ''
      errorBox.textContent = errorSentence(error)
    })
  })

  /** The avatar to send: a new one, else the current one kept (a profile is published whole), unless removed. */
  async function avatarToSend (): Promise<{ mime: string, bytes: Uint8Array } | undefined> {
    if (avatar !== undefined) return { mime: avatar.mime, bytes: new Uint8Array(await avatar.blob.arrayBuffer()) }
    if (saved?.hasAvatar !== true || removeAvatar.checked) return undefined
    return await ctx.client.avatar(saved.author)
  }

  function fill (profile: ApiProfile | undefined): void {
    saved = profile
    removeAvatarField.hidden = profile?.hasAvatar !== true
    removeAvatar.checked = false
    replaceChildren(current, profile === undefined
      ? h('p', { class: 'hint' }, 'You have no profile yet. A profile tells people who you are beside your registered name.')
      : profileFacts(profile))
    if (profile !== undefined) {
      nameInput.value = profile.displayName
      bio.value = profile.bio
      const choice = form.querySelector<HTMLInputElement>(`input[name="${audienceName}"][value="${profile.audience}"]`)
      if (choice !== null) choice.checked = true
    }
    updateCounter()
  }

  async function load (): Promise<void> {
    try {
      fill(await ctx.client.profile())
    } catch (error) {
      if (isApiError(error, 'unknown_profile')) fill(undefined)
      else { replaceChildren(current); errorBox.textContent = errorSentence(error) }
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    void (async () => {
      await shrinking
      errorBox.textContent = ''
      result.textContent = ''
      const displayName = nameInput.value.trim()
      if (displayName === '') { errorBox.textContent = 'Give a display name.'; nameInput.focus(); return }
      if (codePoints(displayName) > MAX_DISPLAY_NAME_CHARS || utf8Length(displayName) > MAX_DISPLAY_NAME_BYTES) {
        errorBox.textContent = `A display name holds at most ${MAX_DISPLAY_NAME_CHARS} characters and ${MAX_DISPLAY_NAME_BYTES} bytes (emoji take 4 each); shorten it.`
        nameInput.focus()
        return
      }
      if (codePoints(bio.value) > MAX_BIO_CHARS) { errorBox.textContent = `A bio holds at most ${MAX_BIO_CHARS} characters; shorten it.`; bio.focus(); return }
      // Disabling the focused button sends focus to <body>: it comes back once saved.
      const hadFocus = document.activeElement === button
      button.disabled = true
      form.setAttribute('aria-busy', 'true')
      try {
        const chosen = form.querySelector<HTMLInputElement>(`input[name="${audienceName}"]:checked`)?.value === 'circle' ? 'circle' : 'world'
        const image = await avatarToSend()
        const profile = await ctx.client.setProfile({ displayName, bio: bio.value, ...(image === undefined ? {} : { avatar: image }), audience: chosen })
        clearAvatar()
        avatarInput.value = ''
        fill(profile)
        result.textContent = `Profile saved and published to ${profile.audience === 'world' ? 'the world' : 'your circle'}.`
      } catch (error) {
        errorBox.textContent = errorSentence(error)
      } finally {
        button.disabled = false
        form.removeAttribute('aria-busy')
        if (hadFocus && button.isConnected) button.focus()
      }
    })()
  })

  void load()
  return {
    title: 'Your profile',
    element: h('section', { class: 'pane page' }, heading, current, form),
    focus: heading,
    dispose () { choice += 1; clearAvatar() }
  }
}

/** The profile screen: ours without a parameter, else the profile of that contact id. */
export function profileScreen (ctx: AppContext, author?: string): Screen {
  return author === undefined ? ownProfile(ctx) : otherProfile(ctx, author)
}
