// DOM helpers. Every value from the API reaches the page through textContent or through
// attributes whose names are fixed here; nothing is ever parsed as HTML.

/**
 * el('td', {class: 'num', title: x}, child, 'text', ...) builds an element.
 * Attribute values are strings set with setAttribute; children are nodes or text.
 * `on*` keys are refused: listeners are added with addEventListener by the caller.
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (/^on/i.test(k) || k === 'style' || k === 'srcdoc') throw new Error(`el: attribute ${k} not allowed`);
      node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else if (c instanceof Node) node.appendChild(c);
    else node.appendChild(document.createTextNode(String(c)));
  }
}

/**
 * Set text, never markup. Unchanged text is left alone: rewriting it would replace the text
 * node, and a live region around it would announce the same words again on every refresh.
 */
export function setText(node, value) {
  const s = value === null || value === undefined ? '' : String(value);
  const kids = node.childNodes;
  if (s === '' ? kids.length === 0 : (kids.length === 1 && kids[0].nodeType === 3 && kids[0].data === s)) return;
  node.textContent = s;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

export const $ = (id) => document.getElementById(id);

/** True when the key event comes from a place that takes text. */
export function isTyping(ev) {
  const t = ev.target;
  if (!(t instanceof HTMLElement)) return false;
  return t.isContentEditable || t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT';
}
