#!/usr/bin/env bash
# A single-node KRaft Apache Kafka broker on 127.0.0.1, installed from Maven Central.
#
#   kafka.sh install   resolve the broker jars into the cache (once)
#   kafka.sh up        install, format storage on first start, start, wait until it serves
#   kafka.sh down      stop it
#   kafka.sh status    say whether it runs
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1),
# KAFKA_DATA_DIR (.skuflow/kafka-$KAFKA_PORT under the repo), SKUFLOW_CACHE (~/.cache/skuflow),
# KAFKA_HEAP (512m). With KAFKA_SASL_PORT, a second listener there takes SASL_PLAINTEXT with
# SCRAM-SHA-512 for the user KAFKA_SASL_USER (skuflow), password KAFKA_SASL_PASSWORD (required;
# set when the data dir is first formatted).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
data=${KAFKA_DATA_DIR:-$repo/.skuflow/kafka-$port}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
cache=${SKUFLOW_CACHE:-$HOME/.cache/skuflow}/kafka-$version
heap=${KAFKA_HEAP:-512m}
sasl_port=${KAFKA_SASL_PORT:-}
sasl_user=${KAFKA_SASL_USER:-skuflow}

die() { echo "kafka.sh: $*" >&2; exit 1; }

need_tools() {
  command -v java >/dev/null || die "java not found: install a Java 17+ JDK (e.g. apt-get install openjdk-17-jdk-headless)"
  command -v mvn >/dev/null || die "mvn not found: install Apache Maven (e.g. apt-get install maven)"
  local major
  major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [[ -n $major && $major -ge 17 ]] || die "Java 17+ is required (found: $(java -version 2>&1 | head -n1))"
}

install() {
  [[ -f $cache/.complete ]] && return 0
  need_tools
  echo "kafka.sh: installing Apache Kafka $version from Maven Central into $cache" >&2
  rm -rf "$cache" && mkdir -p "$cache"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$cache/libs" >&2 || die "Maven could not resolve the broker (is Maven Central reachable?)"
  touch "$cache/.complete"
}

java_opts() {
  echo "-Xmx$heap -Xms128m -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j.configuration=file:$here/log4j.properties"
}

java_run() {
  # shellcheck disable=SC2046
  java $(java_opts) -cp "$cache/libs/*" "$@"
}

running() { [[ -f $data/broker.pid ]] && kill -0 "$(cat "$data/broker.pid")" 2>/dev/null; }

serving() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

up() {
  if running; then echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"; return 0; fi
  install
  need_tools
  mkdir -p "$data/logs"
  local listeners="PLAINTEXT://127.0.0.1:$port" scram=()
  if [[ -n $sasl_port ]]; then
    [[ -n ${KAFKA_SASL_PASSWORD:-} ]] || die "KAFKA_SASL_PORT needs KAFKA_SASL_PASSWORD"
    listeners+=",SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    scram=(--add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$KAFKA_SASL_PASSWORD]")
  fi
  cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$data/logs
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.backoff.ms=1000
PROPS
  if [[ ! -f $data/logs/meta.properties ]]; then
    java_run kafka.tools.StorageTool format -t "$(java_run kafka.tools.StorageTool random-uuid)" \
      -c "$data/server.properties" "${scram[@]}" > "$data/format.log" 2>&1 || { cat "$data/format.log" >&2; die "storage format failed"; }
  fi
  # shellcheck disable=SC2046
  nohup java $(java_opts) -cp "$cache/libs/*" kafka.Kafka "$data/server.properties" > "$data/broker.log" 2>&1 &
  echo $! > "$data/broker.pid"
  for _ in $(seq 1 240); do
    if grep -q "Kafka Server started" "$data/broker.log" 2>/dev/null && serving; then
      echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
      return 0
    fi
    running || { tail -n 30 "$data/broker.log" >&2; die "the broker exited during start-up"; }
    sleep 0.25
  done
  tail -n 30 "$data/broker.log" >&2
  die "the broker did not start within 60 s"
}

down() {
  if running; then
    local pid
    pid=$(cat "$data/broker.pid")
    kill "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    echo "kafka.sh: stopped the broker on 127.0.0.1:$port" >&2
  fi
  rm -f "$data/broker.pid"
}

case ${1:-} in
  install) install ;;
  up) up ;;
  down) down ;;
  status) if running; then echo "running: KAFKA_BOOTSTRAP=127.0.0.1:$port (data $data)"; else echo "not running"; exit 1; fi ;;
  *) echo "usage: $0 install|up|down|status" >&2; exit 2 ;;
esac
