/**
 * Live updates without losing the reader's place: a list drawn by key
 * keeps the element of every item whose data did not change, replaces only
 * the items that did, and never moves the item that holds focus. When a
 * replaced item held focus, focus goes to the control with the same
 * `data-focus-key` in its new element (or to its `data-focus-fallback`),
 * and what was typed in its fields (`data-focus-key` on the field) and the
 * open state of its disclosures are carried over.
 */

/** The attribute that names a control stably across redraws of its item. */
export const FOCUS_KEY = 'data-focus-key'

/** The key of the control in `root` that holds focus, if any. */
export function focusedKey (root: Element): string | undefined {
  const active = document.activeElement
  if (active === null || !root.contains(active)) return undefined
  return active.closest(`[${FOCUS_KEY}]`)?.getAttribute(FOCUS_KEY) ?? ''
}

/** Focuses the control keyed `key` in `root`, else its fallback; true when something took focus. */
export function restoreFocus (root: Element, key: string | undefined): boolean {
  const keyed = key === undefined || key === '' ? null : root.querySelector<HTMLElement>(`[${FOCUS_KEY}="${CSS.escape(key)}"]`)
  const usable = keyed !== null && !(keyed as HTMLButtonElement).disabled && !keyed.hidden ? keyed : root.querySelector<HTMLElement>('[data-focus-fallback]')
  usable?.focus()
  return usable !== null
}

/** Whether the reader changed `field` from what it was drawn with. */
function edited (field: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement): boolean {
  if (field instanceof HTMLSelectElement) return [...field.options].some((option) => option.selected !== option.defaultSelected)
  if (field instanceof HTMLInputElement && (field.type === 'checkbox' || field.type === 'radio')) return field.checked !== field.defaultChecked
  return field.value !== field.defaultValue
}

/**
 * Copies what the reader typed or chose in `old` into `next` (fields matched
 * by their `data-focus-key`; only fields they changed, so a field drawn from
 * new data shows the new data otherwise), and the open state of `old`'s
 * disclosures (matched by order).
 */
export function carryOver (old: Element, next: Element): void {
  for (const field of old.querySelectorAll<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>(`input[${FOCUS_KEY}], textarea[${FOCUS_KEY}], select[${FOCUS_KEY}]`)) {
    if (!edited(field)) continue
    const twin = next.querySelector<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>(`[${FOCUS_KEY}="${CSS.escape(field.getAttribute(FOCUS_KEY)!)}"]`)
    if (twin === null || twin.tagName !== field.tagName) continue
    if (field instanceof HTMLInputElement && (field.type === 'checkbox' || field.type === 'radio')) (twin as HTMLInputElement).checked = field.checked
    else if (!(twin instanceof HTMLSelectElement) || [...twin.options].some((option) => option.value === field.value)) twin.value = field.value
  }
  const opened = [...old.querySelectorAll('details')].map((d) => d.open)
  next.querySelectorAll('details').forEach((d, i) => { if (opened[i] !== undefined) d.open = opened[i]! })
}

/** A list drawn by key: {@link KeyedList.update} with the items in order. */
export interface KeyedList<T> {
  /** Draws `items` in this order; `force` redraws every item (what they show depends on more than their data). */
  update(items: readonly T[], force?: boolean): void
  /** The element of the item keyed `key`, if shown. */
  element(key: string): HTMLElement | undefined
}

/**
 * A list in `container` drawn by key. `version` is what must change for an
 * item to be redrawn (its data, as JSON, say).
 */
export function keyedList<T> (container: HTMLElement, keyOf: (item: T) => string, render: (item: T) => HTMLElement, version: (item: T) => string): KeyedList<T> {
  const shown = new Map<string, { element: HTMLElement, version: string }>()
  return {
    update (items, force = false) {
      const wanted = new Set(items.map(keyOf))
      let focusLost: { key: string, control: string | undefined } | undefined
      for (const [key, entry] of shown) {
        if (wanted.has(key)) continue
        entry.element.remove()
        shown.delete(key)
      }
      const order: HTMLElement[] = []
      for (const item of items) {
        const key = keyOf(item)
        const v = version(item)
        const entry = shown.get(key)
        if (entry !== undefined && entry.version === v && !force) { order.push(entry.element); continue }
        const fresh = render(item)
        fresh.setAttribute('data-key', key)
        if (entry !== undefined) {
          const control = focusedKey(entry.element)
          carryOver(entry.element, fresh)
          entry.element.replaceWith(fresh)
          if (control !== undefined) focusLost = { key, control }
        }
        shown.set(key, { element: fresh, version: v })
        order.push(fresh)
      }
      // Puts the elements in order, moving the others around the one that holds focus (moving it would blur it).
      const focused = order.find((element) => element.contains(document.activeElement))
      let cursor: ChildNode | null = container.firstChild
      for (const element of order) {
        if (element === cursor) { cursor = cursor.nextSibling; continue }
        if (element === focused && cursor !== null) {
          // Everything before the focused element in `order` is placed already: move what stands in its way behind it.
          while (cursor !== null && cursor !== focused) {
            const next: ChildNode | null = cursor.nextSibling
            container.append(cursor)
            cursor = next
          }
          cursor = focused.nextSibling
          continue
        }
        container.insertBefore(element, cursor)
      }
      if (focusLost !== undefined) restoreFocus(shown.get(focusLost.key)!.element, focusLost.control)
    },
    element: (key) => shown.get(key)?.element
  }
}
