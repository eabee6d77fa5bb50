// SPDX-License-Identifier: GPL-2.0
/*
 * LAB STAND-IN for NVIDIA's kernel module (homelab.nvidia_gpu test lab).
 * It is a real, loadable, do-nothing module named "nvidia": it proves that DKMS can build and
 * install a module named like the real one against a kernel's headers. It drives no GPU.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init nvidia_lab_init(void)
{
	pr_info("nvidia: LAB STAND-IN @VERSION@ (@FLAVOUR@ flavour) loaded; it drives no GPU\n");
	return 0;
}

static void __exit nvidia_lab_exit(void)
{
	pr_info("nvidia: LAB STAND-IN unloaded\n");
}

module_init(nvidia_lab_init);
module_exit(nvidia_lab_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("homelab.nvidia_gpu test lab");
MODULE_DESCRIPTION("LAB STAND-IN for the NVIDIA kernel module (@FLAVOUR@); drives no GPU");
MODULE_VERSION("@VERSION@");
MODULE_INFO(flavour, "@FLAVOUR@");
