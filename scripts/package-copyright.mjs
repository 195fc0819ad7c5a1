// Writes the package's debian/copyright (machine-readable format 1.0) to stdout: the agent itself,
// then every bundled npm package with its copyright lines (from its own license file) and license.
//   node scripts/package-copyright.mjs NODE_MODULES_DIR LICENSE_FILE
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [modulesDir, ownLicense] = process.argv.slice(2);
if (!modulesDir || !ownLicense) {
  console.error('usage: package-copyright.mjs NODE_MODULES_DIR LICENSE_FILE');
  process.exit(64);
}

/** Licenses whose full text Debian ships in /usr/share/common-licenses: referred to, not copied. */
const COMMON = { 'Apache-2.0': 'Apache-2.0', 'GPL-2.0': 'GPL-2', 'GPL-3.0': 'GPL-3', 'LGPL-2.1': 'LGPL-2.1', 'MPL-2.0': 'MPL-2.0' };

function packagesIn(dir, prefix = '') {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) {
      out.push(...packagesIn(join(dir, name), `${name}/`));
      continue;
    }
    const pkgDir = join(dir, name);
    const manifest = join(pkgDir, 'package.json');
    if (!existsSync(manifest)) continue;
    out.push({ rel: `${prefix}${name}`, dir: pkgDir, pkg: JSON.parse(readFileSync(manifest, 'utf8')) });
    out.push(...packagesIn(join(pkgDir, 'node_modules')).map((p) => ({ ...p, rel: `${prefix}${name}/node_modules/${p.rel}` })));
  }
  return out;
}

function licenseId(pkg) {
  const l = pkg.license ?? pkg.licenses?.[0]?.type ?? pkg.licenses?.[0];
  const id = typeof l === 'string' ? l : (l?.type ?? 'UNKNOWN');
  // SPDX expressions as DEP-5 writes them.
  return id.replace(/^\((.*)\)$/, '$1').replace(/ OR /g, ' or ').replace(/ AND /g, ' and ');
}

function licenseText(dir) {
  const f = readdirSync(dir).find((n) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(n));
  return f ? readFileSync(join(dir, f), 'utf8') : '';
}

function copyrightLines(dir, pkg) {
  const lines = licenseText(dir)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^copyright\b.*(\d{4}|\(c\))/i.test(l))
    .map((l) => l.replace(/^copyright\s*(\(c\)|©)?\s*/i, ''));
  if (lines.length) return [...new Set(lines)];
  const author = typeof pkg.author === 'string' ? pkg.author : pkg.author?.name;
  return [author ? author : `the authors of ${pkg.name}`];
}

/** One DEP-5 field value: continuation lines indented, empty lines as " .". */
function field(text) {
  return text
    .trimEnd()
    .split('\n')
    .map((l, i) => (i === 0 ? l : l.trim() === '' ? ' .' : ` ${l}`))
    .join('\n');
}

const seen = new Map(); // license id -> text
const paras = [
  'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: ipsec-keepalive\n',
  'Files: *\nCopyright: 2026 ipsec-keepalive developers\nLicense: MIT\n',
];
seen.set('MIT', readFileSync(ownLicense, 'utf8').split('\n').slice(4).join('\n'));

for (const { rel, dir, pkg } of packagesIn(modulesDir)) {
  const id = licenseId(pkg);
  paras.push(
    `Files: usr/lib/ipsec-keepalive/node_modules/${rel}/*\nCopyright: ${field(copyrightLines(dir, pkg).join('\n'))}\nLicense: ${id}\nComment: npm package ${pkg.name} ${pkg.version}\n`,
  );
  for (const one of id.split(/ or | and /)) {
    if (!seen.has(one) && !(one in COMMON)) seen.set(one, licenseText(dir) || `See the npm package ${pkg.name}.`);
    if (one in COMMON && !seen.has(one)) seen.set(one, `On Debian systems the full text is in /usr/share/common-licenses/${COMMON[one]}.`);
  }
}
for (const [id, text] of seen) paras.push(`License: ${id}\n ${field(text.trim())}\n`);
process.stdout.write(paras.join('\n'));
