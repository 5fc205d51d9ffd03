/**
 * The Groups screens. The list (`#/groups`): our groups, the join requests
 * we received (to vouch for), founding a group and asking to join one
 * through a contact who is a member. A group (`#/groups/NAME`): its facts,
 * its feed, its members, candidates and join requests, its proposals with
 * their Yes and No buttons, proposing an amendment or a removal, leaving.
 * Names come from the network: they go in as text, bidi-isolated.
 *
 * A group's page redraws by part on live `group` events: the proposals by
 * key, the facts and lists only when they changed, and the proposal form
 * and the leave confirmation never (what is typed there stays). After an
 * action, focus goes to a stable place: the proposal's status line, the
 * heading of the list that changed.
 */
import type { ApiConstitution, ApiGroupInfo, ApiGroupView, ApiJoinRequest, ApiProposal } from '../../api/collectives-types.js'
import { constitutionText, groupReference, MAX_GROUP_NOTE_CHARS } from '../../api/collectives-content.js'
import type { AppContext, Screen } from './app.js'
import { radio } from './composer.js'
import { h, hiddenText, replaceChildren, uniqueId } from './dom.js'
import { displayName, errorSentence, isApiError, shortTime, withoutBidiControls } from './format.js'
import { groupFeed } from './group-feed.js'
import { isolated } from './post-view.js'
import { FOCUS_KEY, keyedList } from './keyed-list.js'

const MEMBERSHIP_LABELS: Readonly<Record<ApiGroupInfo['membership'], string>> = {
  member: 'Member',
  pending: 'Asked to join: waiting for vouches',
  former: 'Former member'
}

/** A person as a group shows them: their name, else the start of their id. */
function who (id: string, name: string | undefined, me = false): HTMLElement | string {
  if (me) return 'You'
  return name === undefined ? `Someone ${id.slice(0, 8)}` : isolated(name)
}

/** The Groups screens: the list, or one group when `param` names it. */
export function groupsScreen (ctx: AppContext, param?: string): Screen {
  const group = param === undefined ? undefined : groupReference(param)
  return group === undefined ? groupListScreen(ctx) : groupScreen(ctx, group)
}

/** Join requests with their Vouch buttons; `after` runs when one was vouched for. */
function requestList (ctx: AppContext, requests: readonly ApiJoinRequest[], after: () => void): HTMLElement {
  if (requests.length === 0) return h('p', { class: 'hint' }, 'No join requests waiting.')
  return h('ul', { class: 'plain request-list' }, requests.map((request) => {
    const errorLine = h('p', { class: 'error', role: 'alert' })
    const name = request.candidateName ?? `someone ${request.candidate.slice(0, 8)}`
    const button = h('button', {
      type: 'button',
      disabled: request.vouched,
      onclick: () => {
        button.disabled = true
        ctx.client.vouch(request.group.name, request.candidate).then(() => {
          ctx.announce(`You vouched for ${name} in @${request.group.name}.`)
          after()
        }, (error: unknown) => {
          button.disabled = false
          errorLine.textContent = errorSentence(error)
        })
      }
    }, request.vouched ? 'Vouched' : 'Vouch', hiddenText(` for ${name} in @${request.group.name}`))
    return h('li', { class: 'request card' },
      h('p', null, h('strong', null, who(request.candidate, request.candidateName)), ' asks to join ', h('strong', null, '@', isolated(request.group.name)),
        h('span', { class: 'hint' }, ` · ${shortTime(request.receivedAt)}`)),
      request.note === '' ? null : h('p', { class: 'post-text', dir: 'auto' }, request.note),
      h('p', { class: 'hint code' }, `Id ${request.candidate}`),
      button, errorLine)
  }))
}

/** Inputs of a constitution: fixed N, or growing percent with a floor. */
function constitutionFields (legend: string): { element: HTMLElement, value: () => ApiConstitution | string } {
  const name = uniqueId('constitution')
  const n = h('input', { id: uniqueId('quorum-n'), type: 'number', min: 1, max: 255, value: 1, class: 'narrow-input' })
  const percent = h('input', { id: uniqueId('quorum-percent'), type: 'number', min: 1, max: 100, value: 20, class: 'narrow-input' })
  const min = h('input', { id: uniqueId('quorum-min'), type: 'number', min: 1, max: 255, value: 2, class: 'narrow-input' })
  const element = h('fieldset', { class: 'choices' }, h('legend', null, legend),
    radio(name, 'fixed', 'A fixed number of vouches', true),
    h('div', { class: 'field indent' }, h('label', { for: n.id }, 'Vouches needed'), n),
    radio(name, 'growing', 'A share of the members, with a floor', false),
    h('div', { class: 'field indent' }, h('label', { for: percent.id }, 'Percent of members'), percent, h('label', { for: min.id }, 'At least'), min))
  return {
    element,
    value: () => {
      const type = element.querySelector<HTMLInputElement>(`input[name="${name}"]:checked`)?.value
      const whole = (input: HTMLInputElement, lo: number, hi: number, what: string): number | string => {
        const v = Number(input.value)
        return Number.isSafeInteger(v) && v >= lo && v <= hi ? v : `${what} must be a whole number from ${lo} to ${hi}.`
      }
      if (type === 'growing') {
        const p = whole(percent, 1, 100, 'The percent')
        const m = whole(min, 1, 255, 'The floor')
        if (typeof p === 'string') return p
        if (typeof m === 'string') return m
        return { type: 'growing', percent: p, min: m }
      }
      const v = whole(n, 1, 255, 'The number of vouches')
      return typeof v === 'string' ? v : { type: 'fixed', n: v }
    }
  }
}

function groupListScreen (ctx: AppContext): Screen {
  const disposers: Array<() => void> = []
  const heading = h('h2', { tabindex: -1 }, 'Groups')
  const list = h('ul', { class: 'plain group-list', 'aria-label': 'Your groups' })
  const status = h('p', { class: 'hint', role: 'status' }, 'Loading…')
  const errorBox = h('p', { class: 'error', role: 'alert' })
  const requests = h('div', null)
  const requestsHeading = h('h3', { tabindex: -1 }, 'Join requests for you')

  // Found a group.
  const nameInput = h('input', { id: uniqueId('group-name'), type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'neighbours' })
  const nameHint = h('p', { id: uniqueId('group-name-hint'), class: 'hint' }, '3 to 32 of a-z, 0-9 and _. Registered with the Operator like a person\'s name.')
  nameInput.setAttribute('aria-describedby', nameHint.id)
  const rule = constitutionFields('Who gets in: vouches a newcomer needs')
  const createButton = h('button', { type: 'submit' }, 'Found the group')
  const createError = h('p', { class: 'error', role: 'alert' })
  const createForm = h('form', { 'aria-label': 'Found a group' },
    h('div', { class: 'field' }, h('label', { for: nameInput.id }, 'Name'), nameInput, nameHint), rule.element, createButton, createError)
  createForm.addEventListener('submit', (event) => {
    event.preventDefault()
    createError.textContent = ''
    const name = groupReference(nameInput.value)
    if (name === undefined || /^[0-9a-f]{64}$/.test(name)) { createError.textContent = 'A group name is 3 to 32 of a-z, 0-9 and _.'; nameInput.focus(); return }
    const constitution = rule.value()
    if (typeof constitution === 'string') { createError.textContent = constitution; return }
    createButton.disabled = true
    createButton.textContent = 'Founding (proof of work)…'
    ctx.client.createGroup(name, { constitution }).then((created) => {
      ctx.announce(`You founded @${created.name}.`)
      location.hash = `#/groups/${encodeURIComponent(created.name)}`
    }, (error: unknown) => {
      createError.textContent = errorSentence(error)
    }).finally(() => {
      createButton.disabled = false
      createButton.textContent = 'Found the group'
    })
  })

  // Ask to join through a contact.
  const joinName = h('input', { id: uniqueId('join-name'), type: 'text', autocomplete: 'off', spellcheck: 'false' })
  const via = h('select', { id: uniqueId('join-via') })
  const viaHint = h('p', { id: uniqueId('join-via-hint'), class: 'hint' }, 'A contact who is a member: your request goes to them, and they vouch for you.')
  via.setAttribute('aria-describedby', viaHint.id)
  const note = h('textarea', { id: uniqueId('join-note'), rows: 2, maxlength: MAX_GROUP_NOTE_CHARS })
  const joinButton = h('button', { type: 'submit' }, 'Ask to join')
  const joinError = h('p', { class: 'error', role: 'alert' })
  const joinForm = h('form', { 'aria-label': 'Ask to join a group' },
    h('div', { class: 'field' }, h('label', { for: joinName.id }, 'Group name'), joinName),
    h('div', { class: 'field' }, h('label', { for: via.id }, 'Through'), via, viaHint),
    h('div', { class: 'field' }, h('label', { for: note.id }, 'Note to the members (optional)'), note),
    joinButton, joinError)
  joinForm.addEventListener('submit', (event) => {
    event.preventDefault()
    joinError.textContent = ''
    const name = groupReference(joinName.value)
    if (name === undefined) { joinError.textContent = 'Write the group\'s name (3 to 32 of a-z, 0-9 and _).'; joinName.focus(); return }
    if (via.value === '') { joinError.textContent = 'Add a member of the group as a contact first.'; return }
    joinButton.disabled = true
    ctx.client.joinGroup(name, { via: via.value, ...(note.value.trim() === '' ? {} : { note: note.value }) }).then(() => {
      ctx.announce(`Asked to join @${name}.`)
      joinName.value = ''
      note.value = ''
      void load()
    }, (error: unknown) => { joinError.textContent = errorSentence(error) }).finally(() => { joinButton.disabled = false })
  })
  void ctx.client.contacts().then((contacts) => {
    replaceChildren(via, contacts.length === 0 ? h('option', { value: '' }, 'No contacts yet') : contacts.map((c) => h('option', { value: c.id }, displayName(c))))
  }, () => {})

  function groupItem (info: ApiGroupInfo): HTMLLIElement {
    return h('li', { class: 'card group-item' },
      h('h3', null, h('a', { href: `#/groups/${encodeURIComponent(info.name)}` }, '@', isolated(info.name))),
      h('p', null, MEMBERSHIP_LABELS[info.membership],
        ` · ${info.memberCount} ${info.memberCount === 1 ? 'member' : 'members'} · newcomers need ${info.quorum} ${info.quorum === 1 ? 'vouch' : 'vouches'}`,
        info.pendingRequests > 0 ? ` · ${info.pendingRequests} join ${info.pendingRequests === 1 ? 'request' : 'requests'} for you` : '',
        info.openProposals > 0 ? ` · ${info.openProposals} open ${info.openProposals === 1 ? 'proposal' : 'proposals'}` : ''))
  }

  let drawnGroups = ''
  let drawnRequests = ''
  async function load (): Promise<void> {
    try {
      const [groups, received] = await Promise.all([ctx.client.groups(), ctx.client.joinRequests()])
      // Redrawn only when they changed: a live `group` event must not take focus off a Vouch button or a link.
      const listed = JSON.stringify(groups)
      if (listed !== drawnGroups) { drawnGroups = listed; replaceChildren(list, groups.map(groupItem)) }
      const text = groups.length === 0 ? 'You are in no group yet: found one, or ask to join one through a contact.' : ''
      if (status.textContent !== text) status.textContent = text
      status.hidden = groups.length > 0
      const waiting = received.filter((r) => !r.vouched)
      if (JSON.stringify(waiting) !== drawnRequests) {
        drawnRequests = JSON.stringify(waiting)
        const hadFocus = requests.contains(document.activeElement)
        replaceChildren(requests, requestList(ctx, waiting, () => { void load() }))
        if (hadFocus) requestsHeading.focus()
      }
      errorBox.textContent = ''
    } catch (error) {
      status.hidden = true
      errorBox.textContent = isApiError(error, 'not_available') ? 'This node does not run groups yet.' : errorSentence(error)
    }
  }

  disposers.push(ctx.live.on('group', () => { void load() }))
  disposers.push(ctx.live.on('hello', () => { void load() }))
  void load()

  const element = h('section', { class: 'page groups' },
    heading, status, errorBox, list,
    requestsHeading, requests,
    h('details', { class: 'card' }, h('summary', { class: 'composer-summary' }, 'Found a group'), createForm),
    h('details', { class: 'card' }, h('summary', { class: 'composer-summary' }, 'Ask to join a group'), joinForm))
  return { title: 'Groups', element, focus: heading, dispose: () => { for (const d of disposers) d() } }
}

/** What a proposal asks, in words. */
function proposalText (proposal: ApiProposal, view: ApiGroupView): Array<HTMLElement | string> {
  if (proposal.kind === 'amend' && proposal.constitution !== undefined) return [`New rule: newcomers need ${constitutionText(proposal.constitution)}`]
  const target = view.members.find((m) => m.id === proposal.target)
  return ['Remove ', who(proposal.target ?? '', target?.name, target?.me === true)]
}

function groupScreen (ctx: AppContext, group: string): Screen {
  const disposers: Array<() => void> = []
  const heading = h('h2', { tabindex: -1 }, '@', isolated(group))
  const body = h('div', null, h('p', { class: 'hint', role: 'status' }, 'Loading…'))
  // The feed stays put across redraws of the rest: a post being typed keeps its focus when the group changes.
  const feedHolder = h('div', null)
  const errorBox = h('p', { class: 'error', role: 'alert' })
  let feed: { element: HTMLElement, dispose: () => void } | undefined
  disposers.push(() => feed?.dispose())
  let view: ApiGroupView | undefined

  // The parts of the page, each redrawn only when what it shows changed.
  const requestsHeading = h('h3', { tabindex: -1 }, 'Join requests')
  const requestsBox = h('div', null)
  const candidatesBox = h('div', null)
  const membersBox = h('div', null)
  const proposalsHeading = h('h3', { tabindex: -1 }, 'Proposals')
  const proposalsEmpty = h('p', { class: 'hint' }, 'No proposals yet.')
  const proposalsList = h('ul', { class: 'plain' })
  const proposals = keyedList(proposalsList, (p: ApiProposal) => p.id, (p) => proposalItem(p, view!),
    (p) => JSON.stringify([p, view?.membership, view?.members.map((m) => [m.id, m.name])]))
  const proposeHolder = h('div', null)
  const leaveHolder = h('div', null)
  const logLine = h('p', { class: 'hint' })
  const rest = h('div', { hidden: true }, requestsHeading, requestsBox, candidatesBox, membersBox, proposalsHeading, proposalsEmpty, proposalsList, proposeHolder, leaveHolder, logLine)
  /** What each part was last drawn from. */
  const drawn = new Map<string, string>()
  /** Redraws `part` with `draw()` when `data` differs from what it was drawn from. */
  function redraw (part: string, data: unknown, draw: () => void): void {
    const json = JSON.stringify(data)
    if (drawn.get(part) === json) return
    drawn.set(part, json)
    draw()
  }
  let propose: { element: HTMLElement, members: (view: ApiGroupView) => void } | undefined

  /** Focuses the status line of a proposal (after a vote or a proposal), else the proposals' heading. */
  function focusProposal (id: string): void {
    const target = proposals.element(id)?.querySelector<HTMLElement>('[data-focus-fallback]') ?? proposalsHeading
    target.focus()
  }

  function proposalItem (proposal: ApiProposal, view: ApiGroupView): HTMLLIElement {
    const errorLine = h('p', { class: 'error', role: 'alert' })
    let busy = false
    const cast = (choice: 'yes' | 'no'): void => {
      if (busy) return
      busy = true
      ctx.client.voteOnProposal(group, proposal.id, choice).then(async () => {
        ctx.announce(`You voted ${choice}.`)
        await load()
        focusProposal(proposal.id)
      }, (error: unknown) => {
        errorLine.textContent = errorSentence(error)
      }).finally(() => { busy = false })
    }
    const open = proposal.status === 'open' && proposal.myVote === undefined && view.membership === 'member'
    const buttons = open
      ? [h('button', { type: 'button', [FOCUS_KEY]: 'yes', onclick: () => { cast('yes') } }, 'Yes'), h('button', { type: 'button', class: 'quiet', [FOCUS_KEY]: 'no', onclick: () => { cast('no') } }, 'No')]
      : []
    const proposer = view.members.find((m) => m.id === proposal.proposer)
    return h('li', { class: 'card proposal' },
      h('p', null, h('strong', null, proposalText(proposal, view))),
      proposal.reason === '' ? null : h('p', { class: 'post-text', dir: 'auto' }, proposal.reason),
      h('p', { class: 'hint', tabindex: -1, 'data-focus-fallback': true }, 'Proposed by ', who(proposal.proposer, proposer?.name, proposer?.me === true), ` · ${shortTime(proposal.proposedAt)} · `,
        h('strong', null, proposal.status === 'open' ? 'Open' : proposal.status === 'passed' ? 'Passed' : 'Rejected'),
        ` · ${proposal.yes} yes, ${proposal.no} no of ${proposal.electorate}`, proposal.myVote === undefined ? '' : ` · you voted ${proposal.myVote}`),
      buttons.length === 0 ? null : h('div', { class: 'actions', role: 'group', 'aria-label': 'Your vote' }, buttons),
      errorLine)
  }

  /** The proposal form, made once: live updates change its list of members in place, never what is typed. */
  function proposeForm (): { element: HTMLElement, members: (view: ApiGroupView) => void } {
    const kind = uniqueId('proposal-kind')
    const rule = constitutionFields('The new rule')
    const member = h('select', { id: uniqueId('remove-member') })
    const reason = h('textarea', { id: uniqueId('proposal-reason'), rows: 2, maxlength: MAX_GROUP_NOTE_CHARS })
    const button = h('button', { type: 'submit' }, 'Propose')
    const errorLine = h('p', { class: 'error', role: 'alert' })
    const form = h('form', { 'aria-label': 'Make a proposal' },
      h('fieldset', { class: 'choices' }, h('legend', null, 'Propose'), radio(kind, 'amend', 'A new rule for admitting newcomers', true), radio(kind, 'remove', 'Removing a member', false)),
      rule.element,
      h('div', { class: 'field' }, h('label', { for: member.id }, 'Member to remove'), member),
      h('div', { class: 'field' }, h('label', { for: reason.id }, 'Reason (optional)'), reason),
      button, errorLine)
    let busy = false
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      if (busy) return
      errorLine.textContent = ''
      const removing = form.querySelector<HTMLInputElement>(`input[name="${kind}"]:checked`)?.value === 'remove'
      let proposal: { amend: ApiConstitution } | { remove: string }
      if (removing) {
        if (member.value === '') { errorLine.textContent = 'There is no other member to remove.'; return }
        proposal = { remove: member.value }
      } else {
        const constitution = rule.value()
        if (typeof constitution === 'string') { errorLine.textContent = constitution; return }
        proposal = { amend: constitution }
      }
      // Busy, not disabled: a disabled button drops focus to <body>.
      busy = true
      form.setAttribute('aria-busy', 'true')
      ctx.client.propose(group, proposal, reason.value.trim() === '' ? undefined : reason.value).then(async (made) => {
        reason.value = ''
        ctx.announce('Proposal made; it counts as your yes.')
        await load()
        focusProposal(made.id)
      }, (error: unknown) => { errorLine.textContent = errorSentence(error) }).finally(() => { busy = false; form.removeAttribute('aria-busy') })
    })
    return {
      element: h('details', { class: 'card' }, h('summary', { class: 'composer-summary' }, 'Make a proposal'), form),
      members (view) {
        const others = view.members.filter((m) => !m.me)
        const chosen = member.value
        replaceChildren(member, others.map((m) => h('option', { value: m.id, selected: m.id === chosen }, m.name === undefined ? `Someone ${m.id.slice(0, 8)}` : withoutBidiControls(m.name))))
      }
    }
  }

  function leaveButton (): HTMLElement {
    const errorLine = h('p', { class: 'error', role: 'alert' })
    const confirm = h('button', { type: 'button', class: 'danger', hidden: true }, `Yes, leave @${group}`)
    const leave = h('button', { type: 'button', class: 'quiet danger', onclick: () => { confirm.hidden = false; confirm.focus() } }, 'Leave the group')
    confirm.addEventListener('click', () => {
      ctx.client.leaveGroup(group).then(async () => {
        ctx.announce(`You left @${group}.`)
        await load()
        heading.focus() // the leave controls are gone
      }, (error: unknown) => { errorLine.textContent = errorSentence(error) })
    })
    return h('div', { class: 'actions' }, leave, confirm, h('p', { class: 'hint' }, 'Leaving gives the group new keys: you read nothing posted afterwards.'), errorLine)
  }

  function render (next: ApiGroupView, requests: readonly ApiJoinRequest[]): void {
    view = next
    rest.hidden = false
    const member = next.membership === 'member'
    if (member && feed === undefined) {
      feed = groupFeed(ctx, next.name)
      feedHolder.append(feed.element)
    }
    feedHolder.hidden = !member
    redraw('facts', [next.membership, next.founder, next.memberCount, next.quorum, next.constitution, next.epoch, next.rekeyPending, next.id], () => {
      replaceChildren(body,
        h('dl', { class: 'facts' },
          h('dt', null, 'You'), h('dd', null, MEMBERSHIP_LABELS[next.membership], next.founder ? ' (founder)' : ''),
          h('dt', null, 'Members'), h('dd', null, String(next.memberCount)),
          h('dt', null, 'Newcomers need'), h('dd', null, `${next.quorum} ${next.quorum === 1 ? 'vouch' : 'vouches'} now (rule: ${constitutionText(next.constitution)})`),
          h('dt', null, 'Keys'), h('dd', null, `Epoch ${next.epoch}${next.rekeyPending === undefined ? '' : ' (new keys on the way)'}`),
          h('dt', null, 'Group id'), h('dd', { class: 'code' }, next.id)))
    })
    const waiting = member ? requests.filter((r) => !r.vouched) : []
    redraw('requests', [member, waiting], () => {
      const hadFocus = requestsBox.contains(document.activeElement)
      replaceChildren(requestsBox, member
        ? requestList(ctx, waiting, () => { void load().then(() => { requestsHeading.focus() }) })
        : h('p', { class: 'hint' }, 'Members see the requests sent to them.'))
      if (hadFocus) requestsHeading.focus()
    })
    redraw('candidates', [next.candidates, next.quorum], () => {
      replaceChildren(candidatesBox, next.candidates.length === 0 ? null : [h('h3', null, 'Candidates'), h('ul', { class: 'plain' }, next.candidates.map((c) =>
        h('li', null, who(c.id, c.name), ` · ${c.vouchers.length} of ${next.quorum} vouches`)))])
    })
    redraw('members', next.members.map((m) => [m.id, m.name, m.me]), () => {
      replaceChildren(membersBox, h('h3', null, 'Members'),
        h('ul', { class: 'plain member-list' }, next.members.map((m) => h('li', null, who(m.id, m.name, m.me), h('span', { class: 'hint code' }, ` ${m.id.slice(0, 16)}…`)))))
    })
    proposalsEmpty.hidden = next.proposals.length > 0
    proposals.update(next.proposals)
    if (member) {
      if (propose === undefined) {
        propose = proposeForm()
        proposeHolder.append(propose.element)
        leaveHolder.append(leaveButton())
      }
      redraw('propose-members', next.members.map((m) => [m.id, m.name, m.me]), () => { propose!.members(next) })
    } else if (propose !== undefined) {
      propose = undefined
      drawn.delete('propose-members')
      replaceChildren(proposeHolder)
      replaceChildren(leaveHolder)
    }
    const log = `Log: ${next.opCount} entries${next.ignoredOps === 0 ? '' : `, ${next.ignoredOps} without effect`}`
    if (logLine.textContent !== log) logLine.textContent = log
  }

  async function load (): Promise<void> {
    try {
      const next = await ctx.client.group(group)
      const requests = next.membership === 'member' ? await ctx.client.joinRequests(next.name).catch(() => []) : []
      render(next, requests)
      errorBox.textContent = ''
    } catch (error) {
      errorBox.textContent = errorSentence(error)
      if (isApiError(error, 'unknown_group')) { replaceChildren(body); rest.hidden = true }
    }
  }

  disposers.push(ctx.live.on('group', (event) => { if (event.group.name === group || event.group.id === group) void load() }))
  disposers.push(ctx.live.on('hello', () => { void load() }))
  void load()

  const element = h('section', { class: 'page group' }, h('a', { href: '#/groups', class: 'back' }, 'All groups'), heading, errorBox, body, feedHolder, rest)
  return { title: `@${group}`, element, focus: heading, dispose: () => { for (const d of disposers) d() } }
}
