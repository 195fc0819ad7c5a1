#!/usr/bin/env bash
# Builds the Debian package ipsec-keepalive_<version>_<arch>.deb with Debian's own tools
# (dpkg-deb, dpkg-shlibdeps; lintian checks it): the built agent with its production
# node_modules (native addons compiled here, for this machine's Node and architecture) under
# /usr/lib/ipsec-keepalive, /usr/bin/ipsec-keepalive, the systemd unit and sysusers entry, the
# configuration as a conffile, the Prometheus rules, the Grafana dashboard, the man page, bash
# completion and the docs.
#
#   bash scripts/package.sh [OUTDIR]     (npm run package; OUTDIR defaults to ./build)
#
# Needs: a built tree's dependencies (scripts/setup.sh), dpkg-dev. Prints the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(realpath -m "${1:-build}")
PKG=ipsec-keepalive
VERSION=$(node -p "require('./package.json').version")
ARCH=$(dpkg --print-architecture)
# Reproducible: every timestamp is the last commit's (or now, outside a checkout).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
MAINTAINER="ipsec-keepalive developers <ipsec-keepalive@users.noreply.github.com>"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/$PKG
LIB=$STAGE/usr/lib/$PKG
DOC=$STAGE/usr/share/doc/$PKG

npm run --silent build

# --- the product tree: dist, the entry point, production node_modules only ---------------------
mkdir -p "$LIB/bin"
cp -r dist "$LIB/dist"
cp package.json package-lock.json "$LIB/"
sed '1s|^#!.*|#!/usr/bin/node|' bin/ipsec-keepalive.js >"$LIB/bin/ipsec-keepalive.js"
chmod 0755 "$LIB/bin/ipsec-keepalive.js"
# The tree as installed here, pruned to the production dependencies: no second download and no
# second native build, and the addons are the ones the test suite ran.
cp -r node_modules "$LIB/node_modules"
(cd "$LIB" && npm prune --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
rm -f "$LIB/package-lock.json"
# What runs is JavaScript and the compiled addons: not declarations, source maps, docs, tests,
# addon sources or build intermediates.
find "$LIB" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' -o -name '*.markdown' \
  -o -name '.eslintrc*' -o -name '.prettierrc*' -o -name '.editorconfig' -o -name '.npmignore' -o -name '.travis.yml' \
  -o -name '*.gyp' -o -name '*.gypi' -o -name '*.cc' -o -name '*.cpp' -o -name '*.c' -o -name '*.h' -o -name 'Makefile' \
  -o -name '*.ts' -o -name '*.tsbuildinfo' -o -name '*.html' -o -name '*.png' -o -name '*.svg' -o -name '*.gif' \
  -o -name '*.sh' -o -name '.git*' \) -type f -delete
# Directories a package keeps beside its code (only at a package's top: dist/doc, say, is code).
find "$LIB/node_modules" -type d -regextype posix-extended \
  -regex '.*/node_modules/(@[^/]+/)?[^/@][^/]*/(test|tests|__tests__|docs|examples?|benchmarks?|\.github|\.husky)' -prune -exec rm -rf {} +
find "$LIB/node_modules" -depth -type d \( -name .bin -o -name obj.target -o -name .deps \) -exec rm -rf {} +
find "$LIB/node_modules" -path '*/build/*' -type f ! -name '*.node' -delete
find "$LIB/node_modules" -depth -type d -empty -delete
find "$LIB" -name '*.node' -exec strip --strip-unneeded --remove-section=.comment --remove-section=.note {} +
find "$LIB" -type f -exec chmod 0644 {} +
find "$LIB" -type d -exec chmod 0755 {} +
chmod 0755 "$LIB/bin/ipsec-keepalive.js"
# Command-line entry points of libraries are never run from here: no interpreter lines under /usr/lib.
find "$LIB/node_modules" -type f \( -name '*.js' -o -name '*.mjs' -o -name '*.cjs' \) -exec sed -i '1{/^#!/d}' {} +

mkdir -p "$STAGE/usr/bin"
ln -s "../lib/$PKG/bin/ipsec-keepalive.js" "$STAGE/usr/bin/ipsec-keepalive"

# --- systemd, configuration, integrations ------------------------------------------------------
install -D -m 0644 systemd/ipsec-keepalive.service "$STAGE/lib/systemd/system/ipsec-keepalive.service"
install -D -m 0644 systemd/ipsec-keepalive.sysusers "$STAGE/usr/lib/sysusers.d/ipsec-keepalive.conf"
install -D -m 0640 examples/config.yaml "$STAGE/etc/$PKG/config.yaml"
install -D -m 0644 contrib/prometheus/alert-rules.yml "$STAGE/usr/share/$PKG/prometheus/alert-rules.yml"
install -D -m 0644 contrib/grafana/ipsec-keepalive.json "$STAGE/usr/share/$PKG/grafana/dashboard.json"
install -D -m 0644 contrib/bash-completion/ipsec-keepalive "$STAGE/usr/share/bash-completion/completions/ipsec-keepalive"
install -D -m 0644 packaging/deb/lintian-overrides "$STAGE/usr/share/lintian/overrides/$PKG"
install -D -m 0644 man/man8/ipsec-keepalive.8 "$STAGE/usr/share/man/man8/ipsec-keepalive.8"
gzip -9n "$STAGE/usr/share/man/man8/ipsec-keepalive.8"

# --- docs: README, changelog, machine-readable copyright with every bundled package -------------
install -d -m 0755 "$DOC"
gzip -9nc README.md >"$DOC/README.md.gz"
install -d -m 0755 "$DOC/docs"
for f in docs/*.md; do gzip -9nc "$f" >"$DOC/docs/$(basename "$f").gz"; done
{
  printf '%s (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
    "$PKG" "$VERSION" "$VERSION" "$MAINTAINER" "$(date -R -u -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$DOC/changelog.gz"
node scripts/package-copyright.mjs "$LIB/node_modules" LICENSE >"$DOC/copyright"
find "$STAGE/usr/share" -type f -exec chmod 0644 {} +

# --- control ------------------------------------------------------------------------------------
mkdir -p "$STAGE/DEBIAN"
cp packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$STAGE/DEBIAN/"
chmod 0755 "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/prerm" "$STAGE/DEBIAN/postrm"
echo "/etc/$PKG/config.yaml" >"$STAGE/DEBIAN/conffiles"
# Shared libraries the native addons link: dpkg-shlibdeps reads them, as dh_shlibdeps would.
mkdir -p "$WORK/src/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG" "$PKG" >"$WORK/src/debian/control"
mapfile -t addons < <(find "$LIB" -name '*.node' | sort)
shlibs=$(cd "$WORK/src" && dpkg-shlibdeps -O "${addons[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
# The native addons are built for this Node's ABI: the package takes the same major version only.
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@MAINTAINER@/$MAINTAINER/" \
  -e "s/@NODE_MAJOR@/$NODE_MAJOR/" -e "s/@NODE_NEXT@/$((NODE_MAJOR + 1))/" \
  -e "s/@SHLIBS@/$shlibs/" -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)/" \
  packaging/deb/control >"$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/conffiles" "$STAGE/DEBIAN/md5sums"
find "$STAGE" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT"
DEB=$OUT/${PKG}_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
