/* The host's metrics of its link to its replicas (cplugin/replicas.h):
 * read from the identity and registration syncs at each scrape. */
#include "host/replica_metrics.h"

#include "host/read_metrics.h"

static cp_replica_stats read_stats(void *replicas) {
  cp_replica_stats s;
  cpi_replicas_stats(replicas, &s);
  return s;
}

static int64_t adopted(void *r) {
  return (int64_t)read_stats(r).adopted;
}
static int64_t dropped(void *r) {
  return (int64_t)read_stats(r).dropped;
}
static int64_t rejected(void *r) {
  return (int64_t)read_stats(r).rejected;
}
static int64_t published(void *r) {
  return (int64_t)read_stats(r).published;
}
static int64_t failures(void *r) {
  return (int64_t)read_stats(r).failures;
}
static int64_t pending(void *r) {
  return (int64_t)read_stats(r).pending;
}
static int64_t known(void *r) {
  return (int64_t)read_stats(r).known;
}
static int64_t in_sight(void *r) {
  return read_stats(r).in_sight ? 1 : 0;
}
static int64_t secret_ok(void *r) {
  return read_stats(r).secret_ok;
}

static int64_t reg_adopted(void *r) {
  return (int64_t)read_stats(r).registrations_adopted;
}
static int64_t reg_dropped(void *r) {
  return (int64_t)read_stats(r).registrations_dropped;
}
static int64_t reg_published(void *r) {
  return (int64_t)read_stats(r).registrations_published;
}
static int64_t reg_pending(void *r) {
  return (int64_t)read_stats(r).registrations_pending;
}
static int64_t reg_known(void *r) {
  return (int64_t)read_stats(r).registrations_known;
}

static const cpi_read_metric replica_metrics[] = {
    {"cplugin_replica_identities_adopted_total",
     "Identities from other replicas installed from etcd", CP_METRIC_COUNTER,
     adopted},
    {"cplugin_replica_identities_dropped_total",
     "Revocations by other replicas applied", CP_METRIC_COUNTER, dropped},
    {"cplugin_replica_values_rejected_total",
     "Values under the etcd prefix refused: they did not open (another "
     "secret, altered, foreign) or the registry did not take them",
     CP_METRIC_COUNTER, rejected},
    {"cplugin_replica_writes_total",
     "Identity changes of this replica written to etcd", CP_METRIC_COUNTER,
     published},
    {"cplugin_replica_write_failures_total",
     "Writes to etcd that failed (and were retried)", CP_METRIC_COUNTER,
     failures},
    {"cplugin_replica_writes_pending",
     "Identity changes of this replica not written to etcd yet",
     CP_METRIC_GAUGE, pending},
    {"cplugin_replica_identities_known",
     "Identities this replica knows through etcd", CP_METRIC_GAUGE, known},
    {"cplugin_replica_etcd_in_sight",
     "1 while this replica hears etcd (its identities are current), else 0",
     CP_METRIC_GAUGE, in_sight},
    {"cplugin_replica_secret_ok",
     "1 when this replica's shared secret is the other replicas', 0 when "
     "it differs, -1 before it was checked",
     CP_METRIC_GAUGE, secret_ok},
    {"cplugin_replica_registrations_adopted_total",
     "Registrations made at other replicas installed from etcd",
     CP_METRIC_COUNTER, reg_adopted},
    {"cplugin_replica_registrations_dropped_total",
     "Removals at other replicas applied", CP_METRIC_COUNTER, reg_dropped},
    {"cplugin_replica_registration_writes_total",
     "Registrations and removals of this replica written to etcd",
     CP_METRIC_COUNTER, reg_published},
    {"cplugin_replica_registration_writes_pending",
     "Registrations and removals of this replica not written to etcd yet",
     CP_METRIC_GAUGE, reg_pending},
    {"cplugin_replica_registrations_known",
     "Registrations in etcd as this replica last saw them", CP_METRIC_GAUGE,
     reg_known},
};

int cpi_host_attach_replica_metrics(cp_metric_registry *registry,
                                    cpi_replicas *replicas) {
  return cpi_host_add_read_metrics(
      registry, replica_metrics,
      sizeof replica_metrics / sizeof replica_metrics[0], replicas);
}
