#!/usr/bin/env node
// Fails when a crate's modules import each other in a circle.
//
//   node .ci/module-cycles.js server/src app/src
//
// Each source file is a module (`foo.rs` and `foo/mod.rs` are `foo`). A module
// depends on another when its code names a path into it (`crate::a::b`,
// `super::x`, `self::x`, `child::x`), in a `use` or inline; a name reached
// through a `pub use` counts as the module that defines it. Not counted:
// `pub use` itself (a facade, not a dependency of the module's own code),
// `mod x;` declarations, and `#[cfg(test)]` modules (tests may look anywhere).
// Edges are compared between siblings, so `config -> feed::alpaca` with
// `feed::from_config -> config` is the circle `config <-> feed`; the crate
// root's own code (`lib.rs`) is the node `crate (itself)`, so a module that
// names an item of the root that composes it is a circle too. Binaries
// (`main.rs`, `bin/`) sit on top and are not read.
"use strict";

const fs = require("fs");
const path = require("path");

function sourceFiles(dir, root = dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "bin" ? [] : sourceFiles(full, root);
    if (dir === root && entry.name === "main.rs") return [];
    return entry.name.endsWith(".rs") ? [full] : [];
  });
}

/** `a/b.rs` and `a/b/mod.rs` → ["a", "b"]; a root file → []. */
function moduleOf(root, file) {
  const parts = path.relative(root, file).replace(/\.rs$/, "").split(path.sep);
  if (parts[parts.length - 1] === "mod") parts.pop();
  if (parts.length === 1 && ["lib", "main"].includes(parts[0])) return [];
  return parts;
}

/** The file's text without comments, string literals and `#[cfg(test)]` items. */
function codeOf(text) {
  text = text.replace(/'(?:\\.|[^'\\\n])'/g, "' '");
  let code = "";
  for (let i = 0; i < text.length; ) {
    const rest = text.slice(i, i + 2);
    const raw = /^r(#*)"/.exec(text.slice(i, i + 40));
    if (rest === "//") {
      i = text.indexOf("\n", i) < 0 ? text.length : text.indexOf("\n", i);
    } else if (rest === "/*") {
      i = text.indexOf("*/", i) + 2;
    } else if (raw && !/\w/.test(text[i - 1] || "")) {
      const close = '"' + raw[1];
      i = text.indexOf(close, i + raw[0].length) + close.length;
      code += '""';
    } else if (text[i] === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      i = j + 1;
      code += '""';
    } else {
      code += text[i++];
    }
  }
  for (;;) {
    const at = code.search(/#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{/);
    if (at < 0) return code;
    let depth = 0;
    let end = code.indexOf("{", at);
    for (; end < code.length; end++) {
      if (code[end] === "{") depth++;
      if (code[end] === "}" && --depth === 0) break;
    }
    code = code.slice(0, at) + code.slice(end + 1);
  }
}

/**
 * Every path the code names, as segments from the crate root: `crate::`,
 * `super::`, `self::` and paths that start with a child module's name.
 * Returns the paths the module's own code uses and those it re-exports.
 */
function pathsNamed(code, here, modules) {
  const uses = [];
  const reexports = [];
  const resolve = (segments) => {
    const [head, ...rest] = segments;
    if (head === "crate") return rest;
    if (head === "self") return [...here, ...rest];
    if (head === "super") {
      const base = [...here];
      let i = 0;
      for (; segments[i] === "super"; i++) base.pop();
      return [...base, ...segments.slice(i)];
    }
    return modules.has([...here, head].join("::")) ? [...here, ...segments] : null;
  };
  const useTree = /(^|[;{}\s])(pub(\([^)]*\))?\s+)?use\s+([^;]+);/g;
  for (let m; (m = useTree.exec(code)); ) {
    for (const p of expand(m[4].replace(/\s+/g, ""))) {
      const r = resolve(p.split("::"));
      if (r) (m[2] ? reexports : uses).push(r);
    }
  }
  const withoutUse = code.replace(useTree, "$1");
  for (const m of withoutUse.matchAll(/(?<![\w:])(\w+)((?:::\w+)+)/g)) {
    const r = resolve([m[1], ...m[2].slice(2).split("::")]);
    if (r) uses.push(r);
  }
  return { uses, reexports };
}

/**
 * The file's code split into its own and that of inline `mod x { … }`
 * blocks, each with the module path its `self`/`super` are relative to.
 */
function inlineModules(code, here) {
  const blocks = [];
  const inline = /(^|[;{}\s])(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*\{/g;
  let outer = "";
  let from = 0;
  for (let m; (m = inline.exec(code)); ) {
    const open = m.index + m[0].length - 1;
    let depth = 0;
    let end = open;
    for (; end < code.length; end++) {
      if (code[end] === "{") depth++;
      if (code[end] === "}" && --depth === 0) break;
    }
    outer += code.slice(from, m.index + m[1].length);
    blocks.push(...inlineModules(code.slice(open + 1, end), [...here, m[4]]));
    from = end + 1;
    inline.lastIndex = from;
  }
  outer += code.slice(from);
  return [{ code: outer, here }, ...blocks];
}

/** `a::{b,c::{d,e}}` → ["a::b", "a::c::d", "a::c::e"]. */
function expand(tree) {
  const open = tree.indexOf("{");
  if (open < 0) return [tree.replace(/\bas\b.*$/, "")];
  const prefix = tree.slice(0, open);
  const inner = tree.slice(open + 1, tree.lastIndexOf("}"));
  const items = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= inner.length; i++) {
    if (inner[i] === "{") depth++;
    if (inner[i] === "}") depth--;
    if ((inner[i] === "," && depth === 0) || i === inner.length) {
      if (inner.slice(start, i)) items.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  return items.flatMap((item) => expand(prefix + item)).map((p) => p.replace(/::self$/, ""));
}

/**
 * The module graph: module → modules whose items its code names. A name
 * that reaches a module through a re-export counts as the module that
 * defines it.
 */
function graphOf(root) {
  const files = sourceFiles(root);
  const modules = new Map(files.map((f) => [moduleOf(root, f).join("::"), f]));
  // Modules declared `#[cfg(test)] mod x;` are tests in their own file.
  for (const [name, file] of [...modules]) {
    const text = fs.readFileSync(file, "utf8");
    for (const m of text.matchAll(/#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*;/g)) {
      modules.delete([name, m[3]].filter(Boolean).join("::"));
    }
  }
  const named = new Map();
  const reexported = new Map();
  for (const [name, file] of modules) {
    const here = name ? name.split("::") : [];
    const uses = [];
    const reexports = [];
    for (const block of inlineModules(codeOf(fs.readFileSync(file, "utf8")), here)) {
      const found = pathsNamed(block.code, block.here, modules);
      uses.push(...found.uses);
      reexports.push(...found.reexports);
    }
    named.set(name, uses);
    reexported.set(name, new Map(reexports.map((p) => [p[p.length - 1], p])));
  }
  /** The module that defines what `p` names (following re-exports). */
  const home = (p) => {
    for (let hops = 0; hops < 8; hops++) {
      let n = p.length;
      while (n > 0 && !modules.has(p.slice(0, n).join("::"))) n--;
      const module = p.slice(0, n).join("::");
      const via = n < p.length && reexported.get(module).get(p[n]);
      if (!via) return module;
      p = [...via, ...p.slice(n + 1)];
    }
    return null;
  };
  const edges = new Map();
  for (const [name, uses] of named) {
    const targets = new Set(uses.map(home).filter((t) => t !== null && t !== name));
    edges.set(name, targets);
  }
  return edges;
}

/**
 * Edges between siblings: an edge `a::x -> b::y` is also `a -> b` for the
 * modules under their common parent, so `config -> feed::alpaca` and
 * `feed::from_config -> config` make a circle between `config` and `feed`.
 * A parent's own code is the node `parent (itself)` among its children.
 */
function liftedEdges(edges) {
  const lifted = new Map();
  const add = (from, to) => {
    if (!lifted.has(from)) lifted.set(from, new Set());
    if (!lifted.has(to)) lifted.set(to, new Set());
    lifted.get(from).add(to);
  };
  const segments = (name) => (name ? name.split("::") : []);
  for (const [from, targets] of edges) {
    const a = segments(from);
    for (const to of targets) {
      const b = segments(to);
      let common = 0;
      while (common < a.length && common < b.length && a[common] === b[common]) common++;
      const side = (path) =>
        path.length === common
          ? `${path.join("::") || "crate"} (itself)`
          : path.slice(0, common + 1).join("::");
      add(side(a), side(b));
    }
  }
  return lifted;
}

/** Strongly connected components with more than one module (Tarjan). */
function cycles(edges) {
  let index = 0;
  const stack = [];
  const info = new Map();
  const found = [];
  const visit = (v) => {
    info.set(v, { index, low: index, onStack: true });
    index++;
    stack.push(v);
    for (const w of edges.get(v) || []) {
      if (!edges.has(w)) continue;
      if (!info.has(w)) {
        visit(w);
        info.get(v).low = Math.min(info.get(v).low, info.get(w).low);
      } else if (info.get(w).onStack) {
        info.get(v).low = Math.min(info.get(v).low, info.get(w).index);
      }
    }
    if (info.get(v).low === info.get(v).index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        info.get(w).onStack = false;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of edges.keys()) if (!info.has(v)) visit(v);
  return found;
}

let failed = false;
for (const root of process.argv.slice(2)) {
  const edges = liftedEdges(graphOf(root));
  if (process.env.MODULE_GRAPH) {
    for (const [from, to] of edges) console.log(`${root}: ${from} -> ${[...to].sort().join(", ")}`);
  }
  for (const component of cycles(edges)) {
    failed = true;
    const links = component.flatMap((from) =>
      [...edges.get(from)].filter((to) => component.includes(to)).map((to) => `${from} -> ${to}`),
    );
    console.error(`${root}: modules import each other in a circle: ${component.join(", ")}`);
    for (const link of links) console.error(`    ${link}`);
  }
}
if (failed) process.exit(1);
console.log("module graph: no cycles");
