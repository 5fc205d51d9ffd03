/**
 * A few lines of DOM building instead of a framework: the UI is five small
 * screens, and live updates touch single nodes (a message appended, a state
 * changed), so there is nothing for a virtual DOM to diff. Text always goes
 * in as text nodes, never as HTML: a message cannot inject markup.
 */

/** What `h` accepts as children: nodes, text, and nothing (skipped). */
export type Child = Node | string | number | false | null | undefined | readonly Child[]

/** Attributes (strings, booleans for presence) and `on<event>` listeners. */
export type Props = Record<string, string | number | boolean | null | undefined | ((event: never) => void)>

/** Creates an element with attributes, listeners and children. */
export function h<K extends keyof HTMLElementTagNameMap> (tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  for (const [key, value] of Object.entries(props ?? {})) {
    if (typeof value === 'function') {
      element.addEventListener(key.slice(2).toLowerCase(), value as EventListener)
    } else if (value === true) {
      element.setAttribute(key, '')
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(key, String(value))
    }
  }
  append(element, children)
  return element
}

/** Appends children (flattened; empty ones skipped). */
export function append (parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue
    if (Array.isArray(child)) append(parent, child)
    else parent.appendChild(typeof child === 'object' ? child as Node : document.createTextNode(String(child)))
  }
}

/** Replaces all children of `parent`. */
export function replaceChildren (parent: Element, ...children: Child[]): void {
  parent.replaceChildren()
  append(parent, children)
}

let nextId = 0
/** A document-unique id, for label/for and aria-describedby pairs. */
export function uniqueId (prefix: string): string {
  nextId += 1
  return `${prefix}-${nextId}`
}

/** Text only screen readers read (the `visually-hidden` class in the stylesheet). */
export function hiddenText (text: string): HTMLSpanElement {
  return h('span', { class: 'visually-hidden' }, text)
}
