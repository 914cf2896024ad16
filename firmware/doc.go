// Package firmware builds, signs, verifies and installs edgebridge images
// into A/B slots, and rolls back an image that does not confirm itself
// healthy.
//
// # Image
//
// An image is a header, a JSON manifest (version, arch, creation time,
// payload size and sha256, and each file with its sha256), a gzip-compressed tar payload
// (the static binary and the init files) and an Ed25519ph signature over
// everything before it (image.go). Apply verifies all of it, signature
// included, before it writes a byte.
//
// # Slots and the boot pointer
//
// Slots are folders under a root (Slots.Root), so the whole mechanism runs
// and is tested on a PC. ROOT/boot.json is the boot pointer; it is only ever
// replaced whole (write temporary, fsync, rename, fsync folder), so a power
// cut leaves the old pointer or the new one. Apply writes the inactive slot
// only, reads it back, and only then flips the pointer to it with pending
// set. Each start runs Boot first: a pending image gets BootLimit starts; a
// start beyond that returns to the fallback slot. The daemon calls Confirm
// (ConfirmWhenHealthy) once its store is open and SIP and HTTP listen; if it
// cannot within the set time it exits, and the service manager's restart is
// the next start that returns to the old slot.
//
// # On a real board: U-Boot
//
// The fields of BootState are those of U-Boot's bootcount feature, kept in
// its environment with fw_setenv (libubootenv), whose redundant environment
// (two copies and a flag byte) makes each update atomic like our rename:
//
//	BootState.Active     boot_slot=a|b      (bootcmd loads kernel+rootfs of that slot)
//	BootState.Pending    upgrade_available=1 (enables counting)
//	BootState.BootCount  bootcount           (incremented by U-Boot on each boot)
//	BootState.BootLimit  bootlimit
//	BootState.Fallback   the slot altbootcmd boots once bootcount > bootlimit
//	Confirm              fw_setenv upgrade_available 0; fw_setenv bootcount 0
//
// There the slot is a rootfs partition (or UBI volume) rather than a folder:
// Apply's "write the inactive slot" becomes a write of the rootfs to the
// inactive partition, and Boot's counting is done by U-Boot before Linux.
//
// # On OpenWrt: sysupgrade
//
// OpenWrt's sysupgrade replaces the single firmware and reboots, with no
// fallback. On an A/B OpenWrt target (two kernel+rootfs partitions, the
// boot slot in the U-Boot environment as above) edgebridge does not call
// sysupgrade for its own updates: the slot folder here is the package's
// overlay directory /srv/edgebridge/firmware/slots/X, the procd script
// starts the launcher binary, which runs Boot and execs the chosen slot's
// binary. A whole-system sysupgrade image (-n, keep no settings) would be
// a separate path and keeps ROOT if it is listed in /etc/sysupgrade.conf.
//
// # Fault injection
//
// FaultEnv set to one of FaultPoints kills the process with SIGKILL at that
// step of Apply; the tests re-run themselves as a child under every step and
// check the running slot is untouched and the pointer names a bootable slot.
//
// # What it may import
//
// Nothing of ours today (store and hal are allowed). What "healthy" means
// is the daemon's: ConfirmWhenHealthy and SystemdWatchdog take it as a
// func, and cmd/edgebridge passes the gateway's Healthy.
package firmware
