#!/bin/sh
# vic-supervise PROGRAM [ARGUMENT...]: keeps the VCH appliance's endpoint running.
#
# An endpoint that ends with status 0 was asked to stop: vic-supervise returns 0 and the appliance
# powers off. One that fails or is killed (a crash, the OOM killer, a kill -9) is started again, as
# a dockerd under systemd would be: after 1 s at first, doubling up to 30 s while each run fails
# within a minute of its start, so an endpoint that keeps failing neither spins the appliance's CPU
# nor waits long to come back once its cause is gone. ContainerVMs run on meanwhile; the endpoint
# that starts again re-attaches them from its store on the data disk.
#
# VIC_SUPERVISE_DELAY, VIC_SUPERVISE_DELAY_LIMIT and VIC_SUPERVISE_STEADY (whole seconds) change the
# first delay, its limit and the run that counts as steady.
first=${VIC_SUPERVISE_DELAY:-1}
limit=${VIC_SUPERVISE_DELAY_LIMIT:-30}
steady=${VIC_SUPERVISE_STEADY:-60}
delay=$first

seconds_up() {
  read -r up _ </proc/uptime
  echo "${up%.*}"
}

while :; do
  began=$(seconds_up)
  "$@"
  status=$?
  [ "$status" -eq 0 ] && exit 0
  [ $(($(seconds_up) - began)) -ge "$steady" ] && delay=$first
  if [ "$status" -gt 128 ]; then
    how="was killed by signal $((status - 128))"
  else
    how="failed with status $status"
  fi
  echo "vic-supervise: the endpoint $how; starting it again in $delay s"
  sleep "$delay"
  delay=$((delay * 2))
  [ "$delay" -gt "$limit" ] && delay=$limit
done
