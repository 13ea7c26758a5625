#!/usr/bin/env bash
# Builds deploy/Dockerfile with buildah (no Docker engine, no container
# registry) and checks the image: size, non-root user, the binary runs, and
# the configs the Kubernetes manifests mount pass `watchfire check-config`.
#
# The Dockerfile's base images (rust:<ver>-bookworm, debian:bookworm-slim)
# cannot be pulled here, so local stand-ins with the same names are made
# once, only when missing:
#   docker.io/library/debian:bookworm-slim  debootstrap --variant=minbase
#       bookworm from Debian's mirror, trimmed like the official slim image
#       (no docs, man pages, locales or apt lists), imported with buildah.
#   docker.io/library/rust:<ver>-bookworm   that base + the Debian build
#       packages the official image (buildpack-deps:bookworm) also has, and
#       this machine's Rust toolchain copied to /usr/local/rustup with
#       cargo/rustc linked from /usr/local/cargo/bin (the official layout;
#       rustup itself is left out: nothing is downloaded).
# Both carry the label watchfire.stand-in=true. The stand-in has a subset of
# the official image's packages, so what builds here builds there too.
#
# Usage (as root, from anywhere):
#   deploy/image/build-offline.sh            # make stand-ins if missing, build, check
#   deploy/image/build-offline.sh --check    # only check an already built image
#   deploy/image/build-offline.sh --clean    # remove the image, stand-ins, caches, work dir
# Environment: IMAGE (default localhost/watchfire:offline), WORK (default
# /tmp/watchfire-image), DEBIAN_MIRROR, RUST_SYSROOT (default: rustc's),
# SOURCE=worktree (default: the build context is the work tree as it is) or
# SOURCE=head (the committed HEAD, exported with git archive).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DOCKERFILE=$REPO/deploy/Dockerfile
IMAGE=${IMAGE:-localhost/watchfire:offline}
WORK=${WORK:-/tmp/watchfire-image}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SOURCE=${SOURCE:-worktree}
[[ $SOURCE == worktree || $SOURCE == head ]] || { echo "SOURCE must be worktree or head" >&2; exit 1; }
STANDIN_LABEL=watchfire.stand-in=true

# crun, buildah's default runtime on bookworm, refuses hosts with cgroups in
# hybrid mode (v1 controllers plus a v2 hierarchy), as this sandbox has; runc
# runs there, with the same OCI isolation (own network, pid, mount namespaces).
export BUILDAH_RUNTIME=${BUILDAH_RUNTIME:-runc}

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The base images, as the Dockerfile's ARG defaults name them, fully qualified.
arg_default() {
    sed -n "s/^ARG $1=//p" "$DOCKERFILE" | head -n1
}
qualify() {
    case $1 in
        */*/*) echo "$1" ;;
        */*) echo "docker.io/$1" ;;
        *) echo "docker.io/library/$1" ;;
    esac
}
RUST_IMAGE=$(qualify "$(arg_default RUST_IMAGE)")
BASE_IMAGE=$(qualify "$(arg_default BASE_IMAGE)")
[[ $RUST_IMAGE == *rust:* && $BASE_IMAGE == *debian:* ]] ||
    die "cannot read ARG RUST_IMAGE / BASE_IMAGE defaults from $DOCKERFILE"
RUST_VERSION=${RUST_IMAGE##*rust:}
RUST_VERSION=${RUST_VERSION%-bookworm}
[[ $RUST_IMAGE == *-bookworm && $BASE_IMAGE == *:bookworm-slim ]] ||
    die "the stand-ins are made for bookworm; the Dockerfile names $RUST_IMAGE and $BASE_IMAGE"

# Removed on exit, however the script ends.
ctr="" tmp=""
cleanup() {
    if [[ -n $ctr ]]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
    if [[ -n $tmp ]]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

need_tools() {
    [[ $(id -u) == 0 ]] || die "run as root (buildah's storage and debootstrap need it)"
    local missing=()
    command -v buildah >/dev/null || missing+=(buildah)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v runc >/dev/null || missing+=(runc)
    if ((${#missing[@]})); then
        say "installing ${missing[*]} from Debian"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
}

make_base() {
    if have_image "$BASE_IMAGE"; then
        say "stand-in $BASE_IMAGE already present"
        return
    fi
    local root=$WORK/bookworm-rootfs
    if [[ ! -x $root/usr/bin/apt-get || ! -f $root/.debootstrap-done ]]; then
        say "debootstrap --variant=minbase bookworm -> $root"
        rm -rf "$root"
        mkdir -p "$WORK"
        debootstrap --variant=minbase bookworm "$root" "$DEBIAN_MIRROR"
        touch "$root/.debootstrap-done"
    fi
    say "making stand-in $BASE_IMAGE"
    # The official image's sources: bookworm, its updates and security.
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # Trimmed like debian:bookworm-slim (its dpkg excludes docs, man, locales).
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$root"/usr/share/{man,groff,info}/* "$root"/var/lib/apt/lists/* \
        "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
        "$root"/var/log/* "$root/.debootstrap-done"
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    local mnt
    ctr=$(buildah from scratch)
    mnt=$(buildah mount "$ctr")
    tar -C "$root" --numeric-owner -cf - . | tar -C "$mnt" --numeric-owner -xpf -
    buildah umount "$ctr" >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd bash --label "$STANDIN_LABEL" "$ctr"
    buildah commit --rm -q "$ctr" "$BASE_IMAGE" >/dev/null
    ctr=""
    touch "$root/.debootstrap-done"
}

make_rust() {
    if have_image "$RUST_IMAGE"; then
        say "stand-in $RUST_IMAGE already present"
        return
    fi
    local sysroot=${RUST_SYSROOT:-$(rustc --print sysroot)}
    local version
    version=$("$sysroot/bin/rustc" --version) || die "no rustc in $sysroot"
    [[ $version == "rustc $RUST_VERSION."* || $version == "rustc $RUST_VERSION "* ]] ||
        die "$RUST_IMAGE needs Rust $RUST_VERSION; $sysroot has: $version (set RUST_SYSROOT)"
    local full=${version#rustc }
    full=${full%% *}
    local tc=/usr/local/rustup/toolchains/$full-x86_64-unknown-linux-gnu
    say "making stand-in $RUST_IMAGE ($version from $sysroot)"
    ctr=$(buildah from --pull=never "$BASE_IMAGE")
    # This machine reaches crates.io through a TLS-inspecting egress proxy
    # whose CA is in the host's trust store: the builder stand-in trusts the
    # same local CAs (the official image needs none of this).
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        buildah copy -q "$ctr" /usr/local/share/ca-certificates/ /usr/local/share/ca-certificates/ >/dev/null
    fi
    # A subset of buildpack-deps:bookworm, which the official rust image is
    # built on: nothing here that the real image lacks.
    buildah run --network host "$ctr" -- sh -ec '
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            ca-certificates curl wget git procps \
            autoconf automake bzip2 dpkg-dev file g++ gcc libbz2-dev libc6-dev \
            libcurl4-openssl-dev liblzma-dev libssl-dev libtool make patch \
            pkg-config unzip xz-utils zlib1g-dev
        update-ca-certificates
        rm -rf /var/lib/apt/lists/*'
    for d in bin lib libexec; do
        buildah copy -q "$ctr" "$sysroot/$d" "$tc/$d" >/dev/null
    done
    buildah config \
        --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
        --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env RUST_VERSION="$full" --label "$STANDIN_LABEL" "$ctr"
    buildah run "$ctr" -- sh -ec "
        mkdir -p /usr/local/cargo/bin
        for b in cargo rustc rustdoc; do ln -sf $tc/bin/\$b /usr/local/cargo/bin/\$b; done
        cargo --version && rustc --version"
    buildah commit --rm -q "$ctr" "$RUST_IMAGE" >/dev/null
    ctr=""
}

build() {
    local context=$REPO
    if [[ $SOURCE == head ]]; then
        # The committed tree, not a work tree others may be editing; the
        # work tree's Dockerfile (-f) and .dockerignore are still the ones used.
        context=$WORK/context
        say "exporting $(git -C "$REPO" rev-parse --short HEAD) to $context"
        rm -rf "$context"
        mkdir -p "$context"
        git -C "$REPO" archive HEAD | tar -C "$context" -xf -
        cp "$REPO/.dockerignore" "$context/"
    fi
    say "buildah build -f deploy/Dockerfile -t $IMAGE $context (log: $WORK/build.log)"
    mkdir -p "$WORK"
    local start=$SECONDS
    # --pull=never: only the local stand-ins; --network host: cargo and apt
    # reach crates.io and Debian's mirror during the build.
    buildah build --pull=never --network host --layers --force-rm \
        -f "$DOCKERFILE" -t "$IMAGE" "$context" 2>&1 | tee "$WORK/build.log"
    echo "build time: $((SECONDS - start)) s" | tee -a "$WORK/build.log"
}

# The commands run inside the image are single-quoted on purpose.
# shellcheck disable=SC2016
check() {
    have_image "$IMAGE" || die "no image $IMAGE: build it first"
    say "checking $IMAGE"
    local user size
    user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE")
    size=$(buildah images --format '{{.Size}}' "$IMAGE" | head -n1)
    [[ $user == 10001:10001 ]] || die "image user is '$user', not 10001:10001"
    ctr=$(buildah from --pull=never "$IMAGE")
    # The configs as the manifests mount them (ConfigMaps are read-only files).
    tmp=$(mktemp -d)
    mkdir -p "$tmp/config"
    cp "$REPO"/deploy/router/router.yml "$REPO"/deploy/router/alertmanager.yml "$tmp/config/"
    cp "$REPO"/deploy/agent/agent.yml "$tmp/agent.yml"
    # Placeholders for the Secret watchfire-router-secrets (file names from
    # alertmanager.yml); nothing is sent: the router's network is loopback only.
    mkdir -p "$tmp/secrets"
    local f
    while read -r f; do
        case $f in
            *url*) echo "http://127.0.0.1:9/$f" ;;
            *) echo "placeholder-$f" ;;
        esac >"$tmp/secrets/$f"
    done < <(sed -n 's#.*_file: /etc/watchfire/secrets/##p' "$tmp/config/alertmanager.yml")
    chmod -R a+rX "$tmp"
    local run=(buildah run --network none
        -v "$tmp/config:/etc/watchfire/config:ro"
        -v "$tmp/secrets:/etc/watchfire/secrets:ro"
        -v "$tmp/agent.yml:/etc/watchfire/agent.yml:ro" "$ctr" --)
    local uid
    uid=$("${run[@]}" id -u)
    [[ $uid == 10001 ]] || die "processes run as uid $uid, not 10001"
    ! "${run[@]}" sh -c ': > /etc/not-root' 2>/dev/null || die "the user can write to /etc"
    "${run[@]}" sh -ec 'test -w /var/lib/watchfire; ls /etc/watchfire/rules/*.yml >/dev/null'
    "${run[@]}" test -s /etc/ssl/certs/ca-certificates.crt
    "${run[@]}" test -f /usr/share/zoneinfo/Europe/Berlin
    ! "${run[@]}" sh -c 'command -v cargo || command -v rustc' >/dev/null 2>&1 || die "the toolchain leaked into the image"
    echo "--- watchfire --version"
    "${run[@]}" watchfire --version
    echo "--- router: check-config of deploy/router/router.yml"
    "${run[@]}" watchfire check-config --role router /etc/watchfire/config/router.yml
    echo "--- routes test on deploy/router/alertmanager.yml"
    "${run[@]}" watchfire routes test --config.file /etc/watchfire/config/alertmanager.yml \
        --verify.receivers pager severity=critical
    echo "--- agent: the DaemonSet's sed start command, then check-config"
    "${run[@]}" env HOST_IP=10.0.0.7 sh -ec \
        'sed "s/__HOST_IP__/${HOST_IP}/g" /etc/watchfire/agent.yml > /tmp/agent.yml
         watchfire check-config --role agent /tmp/agent.yml'
    echo "--- router: starts from the shipped config and answers /-/ready (no network but loopback)"
    "${run[@]}" bash -c '
        watchfire router --config /etc/watchfire/config/router.yml >/tmp/router.log 2>&1 &
        pid=$!
        for _ in $(seq 60); do
            reply=$( (exec 3<>/dev/tcp/127.0.0.1/9093 &&
                printf "GET /-/ready HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 &&
                cat <&3) 2>/dev/null) || reply=""
            case $reply in
                "HTTP/1."?" 200"*)
                    echo "${reply%%$'"'"'\r'"'"'*}"
                    kill -TERM "$pid" && wait "$pid"
                    echo "router exited with $? on SIGTERM"
                    exit 0 ;;
            esac
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        echo "router not ready:"; cat /tmp/router.log; exit 1'
    say "OK: $IMAGE  size $size  user $user (uid $uid, non-root)"
    buildah images "$IMAGE"
}

clean() {
    say "removing $IMAGE, the stand-ins, buildah's cache mounts and $WORK"
    buildah rmi -f "$IMAGE" "$RUST_IMAGE" "$BASE_IMAGE" 2>/dev/null || true
    # Dangling intermediate layers of --layers builds.
    buildah rmi --prune >/dev/null 2>&1 || true
    rm -rf /var/tmp/buildah-cache "$WORK"
}

case ${1:-} in
    "") need_tools; make_base; make_rust; build; check ;;
    --check) need_tools; check ;;
    --clean) need_tools; clean ;;
    *) die "usage: $0 [--check|--clean]" ;;
esac
