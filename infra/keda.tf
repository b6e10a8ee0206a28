# KEDA from its Helm chart, 2.19 or later (variables.tf checks): the ScaledJob's `accurate`
# strategy over-created Jobs at the replica cap before 2.19 (docs/deploy.md).
resource "helm_release" "keda" {
  name             = "keda"
  repository       = "https://kedacore.github.io/charts"
  chart            = "keda"
  version          = var.keda_version
  namespace        = "keda"
  create_namespace = true
  atomic           = true
  wait             = true
  timeout          = 900

  depends_on = [google_container_cluster.runwire]
}
