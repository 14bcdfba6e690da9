#!/bin/sh
# Checksums of every file an audit or a rollout could touch (configuration, scripts, the
# fixture procfs and the bind-mounted fixture sysfs), to prove a run changed nothing.
find /etc /usr/local /opt/ktune-fixture /sys/devices/system/cpu /sys/devices/system/node \
    -type f ! -path /etc/machine-id -exec md5sum {} + 2>/dev/null | sort -k 2
