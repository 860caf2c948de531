#!/usr/bin/env sh
# Installs the Debian/Ubuntu packages Kiln's Bevy crates build against (ALSA, udev, Wayland and
# xkbcommon headers, pkg-config) and those the editor's window test runs with (Xvfb and Mesa's
# software Vulkan/GL drivers), only when one is missing. The engine crates and the `kiln` CLI
# need none of them.
set -eu
packages="pkg-config libasound2-dev libudev-dev libwayland-dev libxkbcommon-dev
    xvfb xauth mesa-vulkan-drivers libvulkan1 libgl1-mesa-dri libxkbcommon-x11-0 libx11-xcb1
    libxcursor1 libxi6 libxrandr2"
missing=""
for package in $packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install these packages with your system's package manager:$missing" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing:$missing" >&2
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
