#!/bin/sh
# Build libfuse from Debian 13 (trixie)'s source package into a private
# prefix, for a ctfs that uses the kernel features libfuse 3.14 (Debian 12)
# cannot ask for: passthrough of plain files and READs above 1 MiB.
#
#   sh contrib/build-libfuse.sh            # prints the prefix it built or reused
#   PKG_CONFIG_PATH=$(sh contrib/build-libfuse.sh --pkgconfig) ./configure
#
# The system's apt configuration, package lists and installed libfuse are
# never touched: apt runs with its own sources list and state directories
# under the cache, and the library goes to
#   ${CTFS_CACHE:-/var/cache/ctfs-ci}/libfuse-VERSION
# which is reused as long as it is complete (a build that stopped half way is
# redone). Needs meson, ninja-build, pkgconf, dpkg-dev and a C compiler
# (contrib/install-deps.sh installs them) and network access to the archive.
set -eu

version=${CTFS_LIBFUSE_VERSION:-3.17.2}
cache=${CTFS_CACHE:-/var/cache/ctfs-ci}
mirror=${CTFS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=trixie
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
prefix=$cache/libfuse-$version
stamp=$prefix/.complete

pkgconfig_dir() {
	# meson installs into lib/<multiarch triplet> on Debian, lib64 elsewhere
	for d in "$prefix"/lib/*/pkgconfig "$prefix"/lib64/pkgconfig "$prefix"/lib/pkgconfig; do
		[ -f "$d/fuse3.pc" ] && { echo "$d"; return 0; }
	done
	return 1
}

say() { echo "build-libfuse: $*" >&2; }

if [ -f "$stamp" ] && pkgconfig_dir >/dev/null; then
	say "reusing $prefix"
else
	work=$cache/work-libfuse-$version
	rm -rf "$work" "$prefix"
	mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
	echo "deb-src [signed-by=$keyring] $mirror $suite main" >"$work/sources.list"
	# everything apt reads or writes is below $work: the system's sources
	# (sourceparts off), lists, package caches and preferences stay as they are
	apt_private() {
		tool=$1; shift
		"$tool" -q \
			-o Dir::Etc::sourcelist="$work/sources.list" \
			-o Dir::Etc::sourceparts=- \
			-o Dir::Etc::preferencesparts=- \
			-o Dir::State::Lists="$work/lists" \
			-o Dir::Cache="$work/cache" \
			-o APT::Sandbox::User=root \
			"$@"
	}
	say "fetching the $suite source index"
	apt_private apt-get update >&2
	# the Debian revision of upstream $version that trixie carries now
	debver=$(apt_private apt-cache showsrc fuse3 2>/dev/null |
		awk -v v="$version" '$1 == "Version:" && index($2, v "-") == 1 { print $2 }' |
		sort -V | tail -n 1)
	[ -n "$debver" ] || { say "no fuse3 $version-* in $suite"; exit 1; }
	say "fetching fuse3 $debver"
	(cd "$work/src" && apt_private apt-get source --download-only "fuse3=$debver" >&2)
	dsc=$(ls "$work"/src/fuse3_*.dsc)
	# apt checked the files against the signed index (InRelease);
	# dpkg-source checks the tarballs against the .dsc checksums
	dpkg-source -x "$dsc" "$work/src/fuse3" >&2
	say "building with meson into $prefix"
	# only the library: no fusermount3 (the system's setuid one serves
	# unprivileged mounts), no examples, no tests, no udev rules
	meson setup "$work/build" "$work/src/fuse3" --prefix="$prefix" \
		--buildtype=release -Dutils=false -Dexamples=false -Dtests=false \
		-Ddisable-mtab=true >&2
	ninja -C "$work/build" >&2
	ninja -C "$work/build" install >&2
	pkgconfig_dir >/dev/null || { say "no fuse3.pc under $prefix"; exit 1; }
	echo "$debver" >"$stamp"
	rm -rf "$work"
fi

case "${1:-}" in
--pkgconfig) pkgconfig_dir ;;
*) echo "$prefix" ;;
esac
