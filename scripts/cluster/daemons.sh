# The cluster's daemons by pid file (sourced by cluster-up.sh and cluster-down.sh). A pid file can
# outlive its process (a reboot, a new CI machine state): the pid then belongs to someone else, so
# a pid counts only while its command line still names the daemon.
RUN=/run/ft-runner-cluster

pid_of() {  # pid_of NAME: the daemon's pid, if it runs
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "/$1 " || return 1
  echo "$pid"
}
